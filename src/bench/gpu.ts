/**
 * `pld bench --gpu` (and scripts/gpu-check.sh): the check a user with a GPU runs in a few
 * minutes. On the webgpu backend and on wasm on the same machine:
 *
 *  1. the adapter tfjs runs on (vendor, architecture, Dawn backend, hardware or software);
 *  2. parity: three pretraining steps of the reference step's model with dropout, from one seed,
 *     on both backends (the dropout masks are the same hash of seed and index on both, so the
 *     losses must agree to rounding);
 *  3. ms/step and tokens/s of the reference step and of the `base` preset's model (BERT-base
 *     shape) at batch 32 × 128, with the webgpu/wasm ratio, and the GPU memory tfjs's buffer pool
 *     holds afterwards (its high-water mark: the pool keeps what it allocated; Dawn reports no
 *     device-wide figure).
 *
 * A software adapter (SwiftShader) runs the check only under PLD_BACKEND=webgpu and its timings
 * are marked as no GPU timings.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, describeBackend, initBackend } from '../backend';
import { BERT_BASE } from '../model/config';
import { createBert, disposeBert } from '../model/bert';
import { ADAMW_DEFAULTS, AdamW } from '../train/optimizer';
import { mlmTrainStep } from '../train/mlm';
import { fullDepth } from '../schedule';
import { syntheticBatch } from '../data/synthetic';
import { median } from '../util/stats';
import { renderMarkdownTable } from '../util/tables';
import { Rng } from '../util/rng';
import { REFERENCE_STEP, ThroughputSetup } from './throughput';

/** The `base` preset's model (BERT-base shape) at batch 32 × 128. */
export const BASE_STEP: ThroughputSetup = {
  label: 'base (PreLN, L=12, H=768, 12 heads, FFN 3072, seq 128, batch 32, vocab 30522)',
  model: { ...BERT_BASE, norm: 'pre' },
  batchSize: 32,
  seqLen: 128,
};

/** Relative loss difference above which the parity check fails (the tests hold 1e-4 on tiny models). */
export const PARITY_TOLERANCE = 1e-4;

export interface StepTiming {
  engine: string;
  /** Timed steps (after warm-up). */
  steps: number;
  msPerStep: number;
  tokensPerSec: number;
  /** webgpu: MiB held by tfjs's GPU buffer pool after the steps; null elsewhere. */
  gpuMib: number | null;
}

export interface GpuCheckRow {
  setup: string;
  webgpu: StepTiming | { engine: string; unavailable: string };
  wasm: StepTiming | { engine: string; unavailable: string };
}

export interface GpuCheckResult {
  webgpu: BackendInfo;
  wasm: BackendInfo;
  parity: { webgpu: number[]; wasm: number[]; maxRelDiff: number; ok: boolean };
  rows: GpuCheckRow[];
}

export interface GpuCheckOptions {
  /** Timed steps per measurement on webgpu and for the reference step on wasm. */
  steps: number;
  /** Also time the base model (wasm gets one warm-up and one timed step of it). */
  base: boolean;
  log: (s: string) => void;
  /** The two setups (default REFERENCE_STEP and BASE_STEP; the tests pass tiny ones). */
  setups?: { reference: ThroughputSetup; base: ThroughputSetup };
}

async function parityLosses(s: ThroughputSetup, steps: number): Promise<number[]> {
  const rng = new Rng(3);
  const model = createBert(s.model, rng);
  const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
  const losses: number[] = [];
  try {
    for (let t = 0; t < steps; t++) {
      const batch = syntheticBatch(rng, s.model.vocabSize, s.batchSize, s.seqLen);
      losses.push(
        (
          await mlmTrainStep(model, opt, batch, {
            gates: fullDepth(s.model.layers),
            rng,
            lr: 1e-3,
            clipNorm: 1,
            step: t,
          })
        ).loss,
      );
    }
  } finally {
    opt.dispose();
    disposeBert(model);
  }
  return losses;
}

function gpuMib(): number | null {
  const m = tf.memory() as tf.MemoryInfo & { numBytesAllocatedInGPU?: number };
  return m.numBytesAllocatedInGPU === undefined ? null : m.numBytesAllocatedInGPU / 2 ** 20;
}

async function timeSteps(
  s: ThroughputSetup,
  engine: string,
  warmup: number,
  steps: number,
): Promise<StepTiming | { engine: string; unavailable: string }> {
  const rng = new Rng(1);
  let model: ReturnType<typeof createBert> | undefined;
  let opt: AdamW | undefined;
  try {
    model = createBert(s.model, rng);
    opt = new AdamW(ADAMW_DEFAULTS, model.decay);
    const batch = syntheticBatch(rng, s.model.vocabSize, s.batchSize, s.seqLen);
    const gates = fullDepth(s.model.layers);
    const ms: number[] = [];
    for (let t = 0; t < warmup + steps; t++) {
      const t0 = performance.now();
      // Each step ends with its one read-back (loss and norms), so the time includes the GPU's work.
      await mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
      if (t >= warmup) ms.push(performance.now() - t0);
    }
    const msPerStep = median(ms);
    return { engine, steps, msPerStep, tokensPerSec: (s.batchSize * s.seqLen * 1000) / msPerStep, gpuMib: gpuMib() };
  } catch (e) {
    return { engine, unavailable: e instanceof Error ? e.message.split('\n')[0] : String(e) };
  } finally {
    try {
      opt?.dispose();
      if (model) disposeBert(model);
    } catch {
      // A wasm heap that ran out of memory can fail again while freeing; the row already says why.
    }
  }
}

function logTiming(log: (s: string) => void, t: StepTiming | { engine: string; unavailable: string }): void {
  log(
    `  ${t.engine}: ${'unavailable' in t ? `not measured: ${t.unavailable}` : `${t.msPerStep.toFixed(1)} ms/step, ${t.tokensPerSec.toFixed(0)} tokens/s`}`,
  );
}

/** Runs the GPU check; the webgpu backend must find a hardware adapter unless PLD_BACKEND=webgpu. */
export async function runGpuCheck(o: GpuCheckOptions): Promise<GpuCheckResult> {
  const gpu = await initBackend({ backend: 'webgpu' });
  if (gpu.adapter?.software && process.env.PLD_BACKEND !== 'webgpu') {
    throw new Error(
      `the only WebGPU adapter here is a software one, ${describeBackend(gpu)}; PLD_BACKEND=webgpu runs the check on it anyway (its timings are no GPU timings)`,
    );
  }
  o.log(`webgpu: ${describeBackend(gpu)}`);
  const gpuEngine = `tfjs webgpu${gpu.adapter?.software ? ' (software adapter)' : ''}`;
  const { reference, base } = o.setups ?? { reference: REFERENCE_STEP, base: BASE_STEP };
  const gpuLosses = await parityLosses(reference, 3);
  o.log(`webgpu: parity losses ${gpuLosses.map((x) => x.toFixed(6)).join(', ')}`);
  const rows: GpuCheckRow[] = [];
  const setups = o.base ? [reference, base] : [reference];
  const gpuTimes = [];
  for (const s of setups) {
    o.log(`webgpu: ${s.label} ...`);
    gpuTimes.push(await timeSteps(s, gpuEngine, 2, o.steps));
    logTiming(o.log, gpuTimes[gpuTimes.length - 1]);
  }
  const wasm = await initBackend({ backend: 'wasm' });
  o.log(`wasm: ${describeBackend(wasm)}`);
  const wasmLosses = await parityLosses(reference, 3);
  const wasmEngine = `tfjs wasm${wasm.native ? ' + native kernels' : ''}, ${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}`;
  for (let i = 0; i < setups.length; i++) {
    const s = setups[i];
    o.log(`wasm: ${s.label} ...`);
    // The base model takes seconds to minutes a step on a CPU: one warm-up, one timed step.
    const t = s === base ? await timeSteps(s, wasmEngine, 1, 1) : await timeSteps(s, wasmEngine, 2, o.steps);
    logTiming(o.log, t);
    rows.push({ setup: s.label, webgpu: gpuTimes[i], wasm: t });
  }
  const maxRelDiff = Math.max(...gpuLosses.map((l, i) => Math.abs(l - wasmLosses[i]) / Math.abs(wasmLosses[i])));
  return {
    webgpu: gpu,
    wasm,
    parity: { webgpu: gpuLosses, wasm: wasmLosses, maxRelDiff, ok: maxRelDiff < PARITY_TOLERANCE },
    rows,
  };
}

/** The check as Markdown. */
export function gpuCheckReport(r: GpuCheckResult): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const p = r.parity;
  const cells: string[][] = [];
  for (const row of r.rows) {
    const ratio =
      'msPerStep' in row.webgpu && 'msPerStep' in row.wasm
        ? `${f(row.wasm.msPerStep / row.webgpu.msPerStep, 2)}×`
        : '—';
    for (const t of [row.webgpu, row.wasm]) {
      if ('unavailable' in t) cells.push([row.setup, t.engine, `not measured: ${t.unavailable}`, '', '', '', '']);
      else
        cells.push([
          row.setup,
          t.engine,
          String(t.steps),
          f(t.msPerStep),
          f(t.tokensPerSec, 0),
          t === row.webgpu ? ratio : '1.00×',
          t.gpuMib === null ? '—' : f(t.gpuMib, 0),
        ]);
    }
  }
  const lines = [
    `**GPU check**: ${describeBackend(r.webgpu)}; against ${describeBackend(r.wasm)}`,
    '',
    `parity (reference step's model, 3 steps with dropout, one seed): losses webgpu ${p.webgpu.map((x) => x.toFixed(6)).join(', ')}; wasm ${p.wasm.map((x) => x.toFixed(6)).join(', ')}; ` +
      `largest relative difference ${p.maxRelDiff.toExponential(2)}: ${p.ok ? 'ok' : `MISMATCH (over ${PARITY_TOLERANCE})`}`,
    '',
    renderMarkdownTable(
      ['step', 'engine', 'timed steps', 'ms/step', 'tokens/s', 'speed vs wasm', 'GPU buffer pool MiB'],
      cells,
      ['left', 'left', 'right', 'right', 'right', 'right', 'right'],
    ),
  ];
  if (r.webgpu.adapter?.software)
    lines.push('', 'The adapter is a software one (the GPU API on the CPU): these are no GPU timings.');
  return lines.join('\n');
}
