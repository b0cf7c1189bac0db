/**
 * Training throughput of one MLM step: ms/step, tokens/s, achieved GMAC/s and where the time
 * goes (attention, feed-forward, embeddings + MLM head, optimizer), on the active tfjs backend
 * and, when `import torch` works, the same step in PyTorch (bench/torch_step.py) at the same
 * thread count. PyTorch is optional tooling for the comparison, never a runtime dependency.
 * Not a test: `npm run bench` prints the tables.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, describeBackend } from '../backend';
import { ModelConfig, forwardMacs } from '../model/config';
import { Bert, attentionBias, blockPrefix, countParams, createBert, crossEntropy, disposeBert, dropper, embeddings, feedForward, finalNorm, mlmLogits, residualSublayer, selfAttention } from '../model/bert';
import { AdamW, ADAMW_DEFAULTS } from '../train/optimizer';
import { MlmBatch, mlmTrainStep } from '../train/mlm';
import { syntheticBatch } from '../data/synthetic';
import { resolveConfig } from '../train/config';
import { fullDepth } from '../schedule';
import { kitRoot } from '../util/paths';
import { median } from '../util/stats';
import { Align, renderMarkdownTable } from '../util/tables';
import { Rng } from '../util/rng';

export interface ThroughputSetup {
  label: string;
  model: ModelConfig;
  batchSize: number;
  seqLen: number;
}

/**
 * The step issue #6 measures: PreLN, 4 blocks, hidden 128, 4 heads, FFN 512, sequence 128,
 * batch 16, vocabulary 1000, AdamW, dropout 0.1 (BERT's).
 */
export const REFERENCE_STEP: ThroughputSetup = {
  label: 'reference step (PreLN, L=4, H=128, 4 heads, FFN 512, seq 128, batch 16, vocab 1000)',
  model: { ...resolveConfig('preln', 'small').model, layers: 4, hidden: 128, heads: 4, intermediate: 512, vocabSize: 1000, maxPositions: 128, hiddenDropout: 0.1, attentionDropout: 0.1, initStd: 0.02 },
  batchSize: 16,
  seqLen: 128,
};

/** The `small` preset's model and batch (the default experiments), as a PreLN step. */
export function smallPresetStep(): ThroughputSetup {
  const cfg = resolveConfig('preln', 'small');
  const m = cfg.model;
  return {
    label: `small preset (PreLN, L=${m.layers}, H=${m.hidden}, ${m.heads} heads, FFN ${m.intermediate}, seq ${cfg.train.seqLen}, batch ${cfg.train.batchSize}, vocab ${m.vocabSize})`,
    model: { ...m, norm: 'pre' },
    batchSize: cfg.train.batchSize,
    seqLen: cfg.train.seqLen,
  };
}

/** Milliseconds of one step spent in each part, each part's forward + backward timed alone. */
export interface Phases {
  /** All blocks' self-attention sublayers with their LayerNorms. */
  attention: number;
  /** All blocks' feed-forward sublayers with their LayerNorms. */
  ffn: number;
  /** Embeddings, final LayerNorm, MLM head and loss. */
  embeddingsHead: number;
  optimizer: number;
}

export interface EngineTiming {
  /** What ran the step, e.g. `tfjs wasm + native kernels` or `PyTorch 1.13.0`. */
  engine: string;
  threads: number;
  /** Median over the timed steps. */
  msPerStep: number;
  phases: Phases;
  /** Trainable parameters of the model timed (the two engines must agree). */
  params: number;
  /** Process CPU time over wall time during the timed steps: the cores really busy. */
  cpuPerWall: number;
}

export interface Unavailable {
  engine: string;
  unavailable: string;
}

/**
 * Multiply–accumulates of one training step: forward (matrix products of every block and of
 * the MLM head on the masked positions) times 3, since the backward pass computes two products
 * for each forward one. Elementwise work is not counted.
 */
export function stepMacs(s: ThroughputSetup, maskedTokens: number): number {
  const f = forwardMacs(s.model, s.seqLen, maskedTokens / s.batchSize);
  return 3 * s.batchSize * (s.model.layers * f.perBlock + f.head);
}

/** Median ms of `reps` runs of f (after one untimed run). */
function timeIt(f: () => void, reps: number): number {
  f();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function paramsWithPrefix(model: Bert, prefixes: string[]): tf.Variable[] {
  return [...model.params].filter(([n]) => prefixes.some((p) => n.startsWith(p))).map(([, v]) => v);
}

/** Forward + backward of `loss` w.r.t. `vars`, everything disposed. */
function backward(loss: () => tf.Scalar, vars: tf.Variable[]): void {
  const { value, grads } = tf.variableGrads(loss, vars);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
}

let phaseInputs = 0;

function phaseTimes(model: Bert, opt: AdamW, batch: MlmBatch, s: ThroughputSetup, reps: number): Phases {
  const c = model.config;
  const rng = new Rng(2);
  const drop = dropper({ training: true, rng });
  const shape: [number, number] = [s.batchSize, s.seqLen];
  const ids = tf.tensor2d(batch.inputIds, shape, 'int32');
  const mask = tf.tensor2d(batch.attentionMask, shape, 'int32');
  const positions = tf.tensor1d(batch.maskedPositions, 'int32');
  const labels = tf.tensor1d(batch.maskedLabels, 'int32');
  const bias = tf.tidy(() => attentionBias(mask));
  // The block's input, as a variable so its gradient is computed too (as in a real step).
  const x = tf.tidy(() => tf.variable(tf.randomNormal([s.batchSize, s.seqLen, c.hidden], 0, 1, 'float32', 3), true, `phase-input-${phaseInputs++}`)) as tf.Variable<tf.Rank.R3>;
  const b0 = blockPrefix(0);
  // Block 0's two halves as `encode` runs them (residual and LayerNorm included).
  const attention = (): tf.Scalar => tf.sum(residualSublayer(model, x, 0, 'attention', (t) => selfAttention(model, t, 0, bias, drop)));
  const ffn = (): tf.Scalar => tf.sum(residualSublayer(model, x, 0, 'ffn', (t) => feedForward(model, t, 0, drop)));
  const head = (): tf.Scalar => {
    const seq = embeddings(model, { inputIds: ids, attentionMask: mask }, drop);
    return crossEntropy(mlmLogits(model, c.norm === 'pre' ? finalNorm(model, seq) : seq, positions), labels);
  };
  const attnVars = [x, ...paramsWithPrefix(model, [`${b0}attention.`])];
  const ffnVars = [x, ...paramsWithPrefix(model, [`${b0}intermediate.`, `${b0}output.`])];
  const headVars = paramsWithPrefix(model, ['bert.embeddings.', 'bert.encoder.FinalLayerNorm.', 'cls.']);
  const out: Phases = {
    attention: c.layers * timeIt(() => backward(attention, attnVars), reps),
    ffn: c.layers * timeIt(() => backward(ffn, ffnVars), reps),
    embeddingsHead: timeIt(() => backward(head, headVars), reps),
    optimizer: 0,
  };
  const grads = new Map<string, tf.Tensor>([...model.params].map(([n, v]) => [n, tf.tidy(() => tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', 4), 1e-3))]));
  out.optimizer = timeIt(() => {
    opt.apply(model.params, grads, 1e-4, 1);
    model.params.values().next().value?.dataSync();
  }, reps);
  tf.dispose([ids, mask, positions, labels, bias, x, ...grads.values()]);
  return out;
}

export interface TimingOptions {
  steps: number;
  warmup: number;
  /** Repetitions of each phase measurement. */
  phaseReps: number;
}

/** Times the step on the active tfjs backend. */
export function timeTfjs(s: ThroughputSetup, backend: BackendInfo, o: TimingOptions): EngineTiming & { maskedTokens: number } {
  const rng = new Rng(1);
  const model = createBert(s.model, rng);
  const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
  const batch = syntheticBatch(rng, s.model.vocabSize, s.batchSize, s.seqLen);
  const gates = fullDepth(s.model.layers);
  const ms: number[] = [];
  for (let t = 0; t < o.warmup; t++) mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let t = o.warmup; t < o.warmup + o.steps; t++) {
    const t0 = performance.now();
    mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
    ms.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
  const phases = phaseTimes(model, opt, batch, s, o.phaseReps);
  const params = countParams(model).total;
  opt.dispose();
  disposeBert(model);
  const engine = backend.backend === 'wasm' ? `tfjs wasm${backend.native ? ' + native kernels' : ' kernels only'}` : `tfjs ${backend.backend}`;
  return { engine, threads: backend.threads, msPerStep: median(ms), cpuPerWall, phases, params, maskedTokens: batch.maskedPositions.length };
}

/** The first Python that can `import torch`: PLD_PYTHON, then python3 on PATH, then Debian's. */
export function findTorchPython(): { python: string } | { unavailable: string } {
  const candidates = [process.env.PLD_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python };
  }
  return { unavailable: `no Python with torch (tried ${[...new Set(candidates)].join(', ')}; Debian: apt-get install python3-torch, or set PLD_PYTHON)` };
}

/** Times the same step in PyTorch (bench/torch_step.py), or says why it could not. */
export function timeTorch(s: ThroughputSetup, threads: number, o: TimingOptions, python: string): EngineTiming | Unavailable {
  const script = path.join(kitRoot(), 'bench', 'torch_step.py');
  if (!fs.existsSync(script)) return { engine: 'PyTorch', unavailable: `${script} is missing` };
  const arg = { ...s.model, batchSize: s.batchSize, seqLen: s.seqLen, threads, warmup: o.warmup, steps: o.steps, phaseReps: o.phaseReps };
  // One BLAS thread inside PyTorch's own pool of `threads` (see torch_step.py's docstring).
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const r = spawnSync(python, [script, JSON.stringify(arg)], { encoding: 'utf8', env, timeout: 30 * 60_000, maxBuffer: 1 << 24 });
  if (r.status !== 0) return { engine: 'PyTorch', unavailable: `torch_step.py failed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})` };
  const out = JSON.parse(r.stdout) as { torch: string; threads: number; params: number; msPerStep: number[]; cpuPerWall: number; phases: Phases };
  return { engine: `PyTorch ${out.torch}`, threads: out.threads, msPerStep: median(out.msPerStep), cpuPerWall: out.cpuPerWall, phases: out.phases, params: out.params };
}

/** One setup's rows as a Markdown table; ratios are against the PyTorch row of the same thread count. */
export function throughputTable(s: ThroughputSetup, rows: (EngineTiming | Unavailable)[], maskedTokens: number, backend: BackendInfo): string {
  const macs = stepMacs(s, maskedTokens);
  const tokens = s.batchSize * s.seqLen;
  const f = (x: number, d = 1): string => x.toFixed(d);
  const header = ['engine', 'threads', 'CPU/wall', 'ms/step', 'tokens/s', 'GMAC/s', 'attention ms', 'FFN ms', 'emb + head ms', 'optimizer ms', 'rest ms', '× PyTorch'];
  const cells = rows.map((r): string[] => {
    if ('unavailable' in r) return [r.engine, '', '', `not measured: ${r.unavailable}`, ...header.slice(4).map(() => '')];
    const torch = rows.find((t): t is EngineTiming => !('unavailable' in t) && t.engine.startsWith('PyTorch') && t.threads === r.threads);
    const p = r.phases;
    const rest = r.msPerStep - (p.attention + p.ffn + p.embeddingsHead + p.optimizer);
    const ratio = torch ? `${f(r.msPerStep / torch.msPerStep, 2)}×` : '—';
    return [r.engine, String(r.threads), f(r.cpuPerWall, 2), f(r.msPerStep), f((tokens * 1000) / r.msPerStep, 0), f(macs / 1e6 / r.msPerStep), f(p.attention), f(p.ffn), f(p.embeddingsHead), f(p.optimizer), f(rest), ratio];
  });
  const align: Align[] = ['left', ...header.slice(1).map((): Align => 'right')];
  return [`**${s.label}**: ${f(macs / 1e9, 2)} GMAC per step (matrix products, forward × 3); ${describeBackend(backend)}`, '', renderMarkdownTable(header, cells, align)].join('\n');
}
