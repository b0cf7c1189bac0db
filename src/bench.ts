/**
 * Training-throughput benchmark: ms per step of PostLN, PreLN and PreLN with fixed θ, against the
 * ideal speedup 1 / E[fraction of blocks run]. Not a test: it prints a table (`npm run bench`).
 */
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, describeBackend, initBackend } from './backend';
import { ModelConfig } from './model/config';
import { createBert, disposeBert } from './model/bert';
import { AdamW, ADAMW_DEFAULTS } from './train/optimizer';
import { MlmBatch, mlmTrainStep } from './train/mlm';
import { ScheduleConfig, NO_DROP, expectedFraction, sampleGates } from './schedule';
import { Rng } from './rng';

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

/** A synthetic MLM batch with BERT's 15 % masking, for timing only. */
export function syntheticBatch(rng: Rng, vocabSize: number, batchSize: number, seqLen: number): MlmBatch {
  const n = batchSize * seqLen;
  const inputIds = new Int32Array(n);
  const positions: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    inputIds[i] = 5 + rng.int(vocabSize - 5);
    if (rng.next() < 0.15) {
      positions.push(i);
      labels.push(inputIds[i]);
      inputIds[i] = 4;
    }
  }
  return { inputIds, attentionMask: new Int32Array(n).fill(1), maskedPositions: Int32Array.from(positions), maskedLabels: Int32Array.from(labels), batchSize, seqLen };
}

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
    let total = 0;
    let blocks = 0;
    for (let t = 0; t < o.warmup + o.steps; t++) {
      const gates = sampleGates(c.schedule, o.model.layers, t, rng);
      const t0 = performance.now();
      mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
      const dt = performance.now() - t0;
      if (t >= o.warmup) {
        total += dt;
        blocks += gates.keep.filter(Boolean).length;
      }
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    times.set(c.label, { ms: total / o.steps, blocks: blocks / o.steps });
    log(`${c.label}: ${(total / o.steps).toFixed(1)} ms/step`);
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

/** The result as a Markdown table (what the README records). */
export function benchTable(r: BenchResult): string {
  const m = r.model;
  const head = [
    `backend ${describeBackend(r.backend)}; model L=${m.layers} H=${m.hidden} heads=${m.heads} FFN=${m.intermediate} vocab=${m.vocabSize}; batch ${r.batchSize} × seq ${r.seqLen}; ${r.steps} timed steps`,
    '',
    '| case | ms/step | samples/s | blocks run | ideal speedup | measured speedup | measured/ideal |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const rows = r.rows.map(
    (x) => `| ${x.label} | ${x.msPerStep.toFixed(1)} | ${x.samplesPerSec.toFixed(1)} | ${x.meanBlocksRun.toFixed(2)} | ${x.idealSpeedup.toFixed(3)} | ${x.measuredSpeedup.toFixed(3)} | ${x.efficiency.toFixed(3)} |`,
  );
  return [...head, ...rows, '', `tensors alive after the runs: ${r.tensorsAlive}; peak RSS ${r.peakRssMb.toFixed(0)} MiB`].join('\n');
}
