/**
 * `npm run bench` / `pld bench`: two measurements, printed as Markdown tables. Not tests.
 *
 *  1. Throughput (src/bench/throughput.ts): one MLM training step of the reference configuration and
 *     of the `small` preset's model, for each thread count: tfjs wasm with the native kernels,
 *     tfjs wasm with its own kernels only (the kit before the native kernels), and PyTorch when
 *     it is installed; ms/step, tokens/s, GMAC/s and its fraction of the sgemm roofline measured
 *     in the same run, kernel calls per step, the phase split and the ratio to PyTorch.
 *  2. PLD speedup: ms per step of PostLN, PreLN and PreLN with fixed θ on a 12-block model,
 *     against the ideal speedup 1 / E[fraction of blocks run], the cases' steps interleaved.
 *
 * Last, the tensors still alive (0 unless something leaks) and the process's peak RSS.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, BackendName, describeBackend, initBackend } from '../backend';
import { ModelConfig, BERT_BASE } from '../model/config';
import { createBert, disposeBert } from '../model/bert';
import { AdamW, ADAMW_DEFAULTS } from '../train/optimizer';
import { mlmTrainStep } from '../train/mlm';
import { ScheduleConfig, NO_DROP, expectedFraction, sampleGates } from '../schedule';
import { mean } from '../util/stats';
import { renderMarkdownTable } from '../util/tables';
import { Rng } from '../util/rng';
import { defaultWasmThreads } from '../backend/wasm-threads';
import { syntheticBatch } from '../data/synthetic';
import {
  EngineTiming,
  REFERENCE_STEP,
  Roofline,
  ThroughputSetup,
  TimingOptions,
  Unavailable,
  findTorchPython,
  measureRoofline,
  smallPresetStep,
  throughputTable,
  timeTfjs,
  timeTorch,
} from './throughput';

export interface BenchCase {
  label: string;
  norm: 'post' | 'pre';
  schedule: ScheduleConfig;
}

export interface BenchRow {
  label: string;
  msPerStep: number;
  samplesPerSec: number;
  /** 1 / E[fraction of blocks run] relative to full depth. */
  idealSpeedup: number;
  /** Full-depth PreLN ms/step ÷ this case's ms/step. */
  measuredSpeedup: number;
  /** measured / ideal. */
  efficiency: number;
  meanBlocksRun: number;
  /**
   * measured ÷ (L / blocks run): the same ratio against the ideal for the gates actually drawn,
   * free of the sampling noise of a few dozen draws (over 20 steps at θ = 0.5 one standard deviation
   * is 0.3 of the 8.75 blocks expected).
   */
  drawnEfficiency: number;
}

export interface BenchResult {
  backend: BackendInfo;
  model: ModelConfig;
  batchSize: number;
  seqLen: number;
  steps: number;
  rows: BenchRow[];
  tensorsAlive: number;
  peakRssMb: number;
}

export const BENCH_CASES: BenchCase[] = [
  { label: 'PostLN', norm: 'post', schedule: NO_DROP },
  { label: 'PreLN', norm: 'pre', schedule: NO_DROP },
  ...[1, 0.75, 0.5].map((t) => ({
    label: `PreLN+PLD θ=${t}`,
    norm: 'pre' as const,
    schedule: { thetaBar: t, gamma: 0, depth: 'paper' as const, rescale: true, constantTheta: true },
  })),
];

/** The PLD speedup benchmark's model: 12 blocks (the paper's depth), hidden 128. */
export const PLD_BENCH_MODEL: ModelConfig = {
  ...BERT_BASE,
  vocabSize: 8192,
  hidden: 128,
  heads: 4,
  intermediate: 512,
  layers: 12,
  maxPositions: 128,
};

/**
 * PLD speedup on the active backend (initBackend first). All cases' models are built first and
 * their steps interleaved (one step of each case per round), so load from elsewhere on the
 * machine falls on every case alike instead of on whichever ran during it.
 */
export async function runBench(o: {
  model: ModelConfig;
  batchSize: number;
  seqLen: number;
  steps: number;
  warmup: number;
  log?: (s: string) => void;
}): Promise<BenchResult> {
  const backend = await initBackend();
  const log = o.log ?? ((): void => undefined);
  log(`backend: ${describeBackend(backend)}`);
  const runs = BENCH_CASES.map((c) => {
    const rng = new Rng(1);
    const model = createBert({ ...o.model, norm: c.norm }, rng);
    const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
    const batch = syntheticBatch(rng, o.model.vocabSize, o.batchSize, o.seqLen);
    return { c, rng, model, opt, batch, ms: [] as number[], blocks: 0 };
  });
  for (let t = 0; t < o.warmup + o.steps; t++) {
    for (const r of runs) {
      const gates = sampleGates(r.c.schedule, o.model.layers, t, r.rng);
      const t0 = performance.now();
      await mlmTrainStep(r.model, r.opt, r.batch, { gates, rng: r.rng, lr: 1e-4, clipNorm: 1, step: t });
      const dt = performance.now() - t0;
      if (t >= o.warmup) {
        r.ms.push(dt);
        r.blocks += gates.keep.filter(Boolean).length;
      }
    }
  }
  const times = new Map<string, { ms: number; blocks: number }>();
  for (const r of runs) {
    // Mean, not median: with dropped blocks the step time varies with the gates drawn.
    const msPerStep = mean(r.ms);
    times.set(r.c.label, { ms: msPerStep, blocks: r.blocks / o.steps });
    log(`${r.c.label}: ${msPerStep.toFixed(1)} ms/step`);
    r.opt.dispose();
    disposeBert(r.model);
  }
  const base = (times.get('PreLN') as { ms: number }).ms;
  const rows = BENCH_CASES.map((c): BenchRow => {
    const { ms, blocks } = times.get(c.label) as { ms: number; blocks: number };
    const ideal = 1 / expectedFraction(c.schedule, o.model.layers, c.schedule.constantTheta ? c.schedule.thetaBar : 1);
    const measured = base / ms;
    return {
      label: c.label,
      msPerStep: ms,
      samplesPerSec: (o.batchSize * 1000) / ms,
      idealSpeedup: ideal,
      measuredSpeedup: measured,
      efficiency: measured / ideal,
      meanBlocksRun: blocks,
      drawnEfficiency: measured / (o.model.layers / blocks),
    };
  });
  return {
    backend,
    model: o.model,
    batchSize: o.batchSize,
    seqLen: o.seqLen,
    steps: o.steps,
    rows,
    tensorsAlive: tf.memory().numTensors,
    peakRssMb: peakRssMb(),
  };
}

/** The process's peak resident memory so far (the kernel's high-water mark), MiB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The PLD speedup result as a Markdown table (what the README records). */
export function benchTable(r: BenchResult): string {
  const m = r.model;
  const table = renderMarkdownTable(
    [
      'case',
      'ms/step',
      'samples/s',
      'blocks run',
      'ideal speedup',
      'measured speedup',
      'measured/ideal',
      'measured/ideal for the blocks run',
    ],
    r.rows.map((x) => [
      x.label,
      x.msPerStep.toFixed(1),
      x.samplesPerSec.toFixed(1),
      x.meanBlocksRun.toFixed(2),
      x.idealSpeedup.toFixed(3),
      x.measuredSpeedup.toFixed(3),
      x.efficiency.toFixed(3),
      x.drawnEfficiency.toFixed(3),
    ]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  return [
    `**PLD speedup**: backend ${describeBackend(r.backend)}; model L=${m.layers} H=${m.hidden} heads=${m.heads} FFN=${m.intermediate} vocab=${m.vocabSize}; batch ${r.batchSize} × seq ${r.seqLen}; ${r.steps} timed steps`,
    '',
    table,
    '',
    `tensors alive after the runs: ${r.tensorsAlive}; peak RSS ${r.peakRssMb.toFixed(0)} MiB; the cases' steps interleaved, one of each per round`,
  ].join('\n');
}

export interface BenchOptions {
  /** Backend for the PLD speedup table and the tfjs throughput rows (default: the chain's choice). */
  backend?: BackendName;
  /** Thread counts of the throughput tables (default: 1 and the cores available). */
  threads: number[];
  /** Timed steps per measurement. */
  steps: number;
  /** Skip the PyTorch rows. */
  torch: boolean;
  which: 'all' | 'throughput' | 'pld';
  /** A smoke run: every table on small models and few steps (its numbers mean nothing). */
  quick?: boolean;
  log: (s: string) => void;
}

/** The small models of a quick run, same code paths as the real ones. */
const QUICK_STEP: ThroughputSetup = {
  ...REFERENCE_STEP,
  label: 'quick smoke run (PreLN, L=2, H=32, 2 heads, FFN 64, seq 32, batch 2, vocab 200)',
  model: { ...REFERENCE_STEP.model, layers: 2, hidden: 32, heads: 2, intermediate: 64, vocabSize: 200 },
  batchSize: 2,
  seqLen: 32,
};
const QUICK_PLD_MODEL: ModelConfig = { ...PLD_BENCH_MODEL, vocabSize: 200, hidden: 32, heads: 2, intermediate: 64 };

/** Throughput rows of one setup: every tfjs variant at each thread count, then PyTorch, and the roofline at each thread count. */
async function throughputRows(
  s: ThroughputSetup,
  o: BenchOptions,
  python: { python: string } | { unavailable: string },
): Promise<string> {
  const timing: TimingOptions = o.quick
    ? { steps: o.steps, warmup: 1, phaseReps: 1 }
    : { steps: o.steps, warmup: 2, phaseReps: 3 };
  const rows: (EngineTiming | Unavailable)[] = [];
  const rooflines: Roofline[] = [];
  let masked = 0;
  let last: BackendInfo | undefined;
  for (const threads of o.threads) {
    const variants = (o.backend ?? 'wasm') === 'wasm' ? [true, false] : [undefined];
    for (const native of variants) {
      const b = await initBackend({ backend: o.backend ?? 'wasm', threads, native });
      o.log(`${s.label}: ${describeBackend(b)} ...`);
      const t = await timeTfjs(s, b, timing);
      o.log(
        `  ${t.engine}, ${t.threads} thread(s): ${t.msPerStep.toFixed(1)} ms/step, ${t.kernelsPerStep} kernels/step`,
      );
      rows.push(t);
      masked = t.maskedTokens;
      if (native !== false) last = b;
    }
    if (o.torch) {
      const t =
        'python' in python
          ? timeTorch(s, threads, timing, python.python)
          : { engine: 'PyTorch', unavailable: python.unavailable };
      o.log(`  ${t.engine}: ${'unavailable' in t ? t.unavailable : `${t.msPerStep.toFixed(1)} ms/step`}`);
      rows.push(t);
    }
  }
  for (const threads of o.threads) {
    const r = measureRoofline(s, masked, threads, o.quick ? 2 : 20);
    if (r) {
      o.log(`  cblas_sgemm alone, ${threads} thread(s): ${(r.macs / 1e6 / r.ms).toFixed(1)} GMAC/s`);
      rooflines.push(r);
    }
  }
  return throughputTable(s, rows, masked, last as BackendInfo, rooflines);
}

/** Runs the benchmarks and returns the Markdown report. */
export async function runBenchmarks(o: BenchOptions): Promise<string> {
  const parts: string[] = [];
  if (o.which !== 'pld') {
    const python = o.torch ? findTorchPython() : { unavailable: 'skipped (--no-torch)' };
    for (const s of o.quick ? [QUICK_STEP] : [REFERENCE_STEP, smallPresetStep()])
      parts.push(await throughputRows(s, o, python));
  }
  if (o.which !== 'throughput') {
    // The default backend and thread count (the rows above switched both).
    await initBackend({ backend: o.backend, threads: defaultWasmThreads() });
    const r = await runBench({
      model: o.quick ? QUICK_PLD_MODEL : PLD_BENCH_MODEL,
      batchSize: o.quick ? 4 : 16,
      seqLen: o.quick ? 16 : 64,
      steps: o.steps,
      warmup: o.quick ? 1 : 3,
      log: o.log,
    });
    parts.push(benchTable(r));
  }
  parts.push(`**after the bench**: tensors alive ${tf.memory().numTensors}; peak RSS ${peakRssMb().toFixed(0)} MiB`);
  return parts.join('\n\n');
}
