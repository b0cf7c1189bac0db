/**
 * `npm run bench` / `pld bench`: two measurements, printed as Markdown tables. Not tests.
 *
 *  1. Throughput (src/bench/throughput.ts): one MLM training step of the reference configuration and
 *     of the `small` preset's model, for each thread count: tfjs wasm with the native kernels,
 *     tfjs wasm with its own kernels only (the kit before the native kernels), and PyTorch when
 *     it is installed; ms/step, tokens/s, GMAC/s, the phase split and the ratio to PyTorch.
 *  2. PLD speedup: ms per step of PostLN, PreLN and PreLN with fixed θ on a 12-block model,
 *     against the ideal speedup 1 / E[fraction of blocks run].
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
import { EngineTiming, REFERENCE_STEP, ThroughputSetup, TimingOptions, Unavailable, findTorchPython, smallPresetStep, throughputTable, timeTfjs, timeTorch } from './throughput';

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
export const PLD_BENCH_MODEL: ModelConfig = { ...BERT_BASE, vocabSize: 8192, hidden: 128, heads: 4, intermediate: 512, layers: 12, maxPositions: 128 };

/** PLD speedup on the active backend (initBackend first). */
export async function runBench(o: { model: ModelConfig; batchSize: number; seqLen: number; steps: number; warmup: number; log?: (s: string) => void }): Promise<BenchResult> {
  const backend = await initBackend();
  const log = o.log ?? ((): void => undefined);
  log(`backend: ${describeBackend(backend)}`);
  let peakRss = process.memoryUsage().rss;
  const times = new Map<string, { ms: number; blocks: number }>();
  for (const c of BENCH_CASES) {
    const rng = new Rng(1);
    const model = createBert({ ...o.model, norm: c.norm }, rng);
    const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
    const batch = syntheticBatch(rng, o.model.vocabSize, o.batchSize, o.seqLen);
    const ms: number[] = [];
    let blocks = 0;
    for (let t = 0; t < o.warmup + o.steps; t++) {
      const gates = sampleGates(c.schedule, o.model.layers, t, rng);
      const t0 = performance.now();
      await mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
      const dt = performance.now() - t0;
      if (t >= o.warmup) {
        ms.push(dt);
        blocks += gates.keep.filter(Boolean).length;
      }
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    // Mean, not median: with dropped blocks the step time varies with the gates drawn.
    const msPerStep = mean(ms);
    times.set(c.label, { ms: msPerStep, blocks: blocks / o.steps });
    log(`${c.label}: ${msPerStep.toFixed(1)} ms/step`);
    opt.dispose();
    disposeBert(model);
  }
  const base = (times.get('PreLN') as { ms: number }).ms;
  const rows = BENCH_CASES.map((c): BenchRow => {
    const { ms, blocks } = times.get(c.label) as { ms: number; blocks: number };
    const ideal = 1 / expectedFraction(c.schedule, o.model.layers, c.schedule.constantTheta ? c.schedule.thetaBar : 1);
    const measured = base / ms;
    return { label: c.label, msPerStep: ms, samplesPerSec: (o.batchSize * 1000) / ms, idealSpeedup: ideal, measuredSpeedup: measured, efficiency: measured / ideal, meanBlocksRun: blocks };
  });
  return { backend, model: o.model, batchSize: o.batchSize, seqLen: o.seqLen, steps: o.steps, rows, tensorsAlive: tf.memory().numTensors, peakRssMb: peakRss / 2 ** 20 };
}

/** The PLD speedup result as a Markdown table (what the README records). */
export function benchTable(r: BenchResult): string {
  const m = r.model;
  const table = renderMarkdownTable(
    ['case', 'ms/step', 'samples/s', 'blocks run', 'ideal speedup', 'measured speedup', 'measured/ideal'],
    r.rows.map((x) => [x.label, x.msPerStep.toFixed(1), x.samplesPerSec.toFixed(1), x.meanBlocksRun.toFixed(2), x.idealSpeedup.toFixed(3), x.measuredSpeedup.toFixed(3), x.efficiency.toFixed(3)]),
    ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  return [
    `**PLD speedup**: backend ${describeBackend(r.backend)}; model L=${m.layers} H=${m.hidden} heads=${m.heads} FFN=${m.intermediate} vocab=${m.vocabSize}; batch ${r.batchSize} × seq ${r.seqLen}; ${r.steps} timed steps`,
    '',
    table,
    '',
    `tensors alive after the runs: ${r.tensorsAlive}; peak RSS ${r.peakRssMb.toFixed(0)} MiB`,
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
  log: (s: string) => void;
}

/** Throughput rows of one setup: every tfjs variant at each thread count, then PyTorch. */
async function throughputRows(s: ThroughputSetup, o: BenchOptions, python: { python: string } | { unavailable: string }): Promise<string> {
  const timing: TimingOptions = { steps: o.steps, warmup: 2, phaseReps: 3 };
  const rows: (EngineTiming | Unavailable)[] = [];
  let masked = 0;
  let last: BackendInfo | undefined;
  for (const threads of o.threads) {
    const variants = (o.backend ?? 'wasm') === 'wasm' ? [true, false] : [undefined];
    for (const native of variants) {
      const b = await initBackend({ backend: o.backend ?? 'wasm', threads, native });
      o.log(`${s.label}: ${describeBackend(b)} ...`);
      const t = await timeTfjs(s, b, timing);
      o.log(`  ${t.engine}, ${t.threads} thread(s): ${t.msPerStep.toFixed(1)} ms/step`);
      rows.push(t);
      masked = t.maskedTokens;
      if (native !== false) last = b;
    }
    if (o.torch) {
      const t = 'python' in python ? timeTorch(s, threads, timing, python.python) : { engine: 'PyTorch', unavailable: python.unavailable };
      o.log(`  ${t.engine}: ${'unavailable' in t ? t.unavailable : `${t.msPerStep.toFixed(1)} ms/step`}`);
      rows.push(t);
    }
  }
  return throughputTable(s, rows, masked, last as BackendInfo);
}

/** Runs the benchmarks and returns the Markdown report. */
export async function runBenchmarks(o: BenchOptions): Promise<string> {
  const parts: string[] = [];
  if (o.which !== 'pld') {
    const python = o.torch ? findTorchPython() : { unavailable: 'skipped (--no-torch)' };
    for (const s of [REFERENCE_STEP, smallPresetStep()]) parts.push(await throughputRows(s, o, python));
  }
  if (o.which !== 'throughput') {
    // The default backend and thread count (the rows above switched both).
    await initBackend({ backend: o.backend, threads: defaultWasmThreads() });
    const r = await runBench({ model: PLD_BENCH_MODEL, batchSize: 16, seqLen: 64, steps: o.steps, warmup: 3, log: o.log });
    parts.push(benchTable(r));
  }
  return parts.join('\n\n');
}

