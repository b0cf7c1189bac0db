/**
 * Training throughput of one MLM step: ms/step, tokens/s, achieved GMAC/s, its fraction of the
 * machine's matrix-product roofline (cblas_sgemm alone at the step's own shapes, measured in the
 * same run), tfjs kernel calls per step, and where the time goes (embeddings, blocks, MLM head,
 * optimizer, rest), on the active tfjs backend and, when `import torch` works, the same step in
 * PyTorch (`python -m pld_torch.bench`, the twin) at the same thread count. PyTorch is optional tooling for the
 * comparison, never a runtime dependency. Not a test: `npm run bench` prints the tables.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, describeBackend } from '../backend';
import { ModelConfig, forwardMacs } from '../model/config';
import {
  Bert,
  attentionBias,
  blockPrefix,
  countParams,
  createBert,
  crossEntropy,
  disposeBert,
  dropper,
  embeddings,
  feedForward,
  finalNorm,
  mlmLogits,
  residualSublayer,
  selfAttention,
} from '../model/bert';
import { loadNativeKernels } from '../backend/native';
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
 * The reference step of the throughput tables: PreLN, 4 blocks, hidden 128, 4 heads, FFN 512, sequence 128,
 * batch 16, vocabulary 1000, AdamW, dropout 0.1 (BERT's).
 */
export const REFERENCE_STEP: ThroughputSetup = {
  label: 'reference step (PreLN, L=4, H=128, 4 heads, FFN 512, seq 128, batch 16, vocab 1000)',
  model: {
    ...resolveConfig('preln', 'small').model,
    layers: 4,
    hidden: 128,
    heads: 4,
    intermediate: 512,
    vocabSize: 1000,
    maxPositions: 128,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
    initStd: 0.02,
  },
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
  /** Token, position and segment lookups, their LayerNorm and dropout. */
  embeddings: number;
  /** Every block: attention and feed-forward sublayers with their LayerNorms and residuals. */
  blocks: number;
  /** Final LayerNorm (PreLN), MLM head on the masked positions, loss. */
  head: number;
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
  /** tfjs kernel calls in one step (tf.profile); absent for PyTorch. */
  kernelsPerStep?: number;
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
async function timeIt(f: () => Promise<void>, reps: number): Promise<number> {
  await f();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function paramsWithPrefix(model: Bert, prefixes: string[]): tf.Variable[] {
  return [...model.params].filter(([n]) => prefixes.some((p) => n.startsWith(p))).map(([, v]) => v);
}

/** Forward + backward of `loss` w.r.t. `vars`, everything disposed. */
async function backward(loss: () => tf.Scalar, vars: tf.Variable[]): Promise<void> {
  const { value, grads } = tf.variableGrads(loss, vars);
  await value.data();
  tf.dispose([value, ...Object.values(grads)]);
}

let phaseInputs = 0;

async function phaseTimes(model: Bert, opt: AdamW, batch: MlmBatch, s: ThroughputSetup, reps: number): Promise<Phases> {
  const c = model.config;
  const rng = new Rng(2);
  const drop = dropper({ training: true, rng });
  const shape: [number, number] = [s.batchSize, s.seqLen];
  const ids = tf.tensor2d(batch.inputIds, shape, 'int32');
  const mask = tf.tensor2d(batch.attentionMask, shape, 'int32');
  const positions = tf.tensor1d(batch.maskedPositions, 'int32');
  const labels = tf.tensor1d(batch.maskedLabels, 'int32');
  const bias = tf.tidy(() => attentionBias(mask));
  // A block's input and the encoder's output, as variables so their gradients are computed too (as in a real step).
  const input = (): tf.Variable<tf.Rank.R3> =>
    tf.tidy(() =>
      tf.variable(
        tf.randomNormal([s.batchSize, s.seqLen, c.hidden], 0, 1, 'float32', 3),
        true,
        `phase-input-${phaseInputs++}`,
      ),
    ) as tf.Variable<tf.Rank.R3>;
  const x = input();
  const seq = input();
  const b0 = blockPrefix(0);
  // Block 0 as `encode` runs it (residuals and LayerNorms included), times the number of blocks.
  const block = (): tf.Scalar => {
    const h = residualSublayer(model, x, 0, 'attention', (t) => selfAttention(model, t, 0, bias, drop));
    return tf.sum(residualSublayer(model, h, 0, 'ffn', (t) => feedForward(model, t, 0, drop)));
  };
  const embed = (): tf.Scalar => tf.sum(embeddings(model, { inputIds: ids, attentionMask: mask }, drop));
  const head = (): tf.Scalar =>
    crossEntropy(mlmLogits(model, c.norm === 'pre' ? finalNorm(model, seq) : seq, positions), labels);
  const out: Phases = {
    embeddings: await timeIt(() => backward(embed, paramsWithPrefix(model, ['bert.embeddings.'])), reps),
    blocks: c.layers * (await timeIt(() => backward(block, [x, ...paramsWithPrefix(model, [b0])]), reps)),
    head: await timeIt(
      () =>
        backward(head, [
          seq,
          ...paramsWithPrefix(model, ['bert.encoder.FinalLayerNorm.', 'cls.', 'bert.embeddings.word_embeddings.']),
        ]),
      reps,
    ),
    optimizer: 0,
  };
  const grads = new Map<string, tf.Tensor>(
    [...model.params].map(([n, v]) => [n, tf.tidy(() => tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', 4), 1e-3))]),
  );
  out.optimizer = await timeIt(async () => {
    opt.apply(model.params, grads, 1e-4, 1);
    await model.params.values().next().value?.data();
  }, reps);
  tf.dispose([ids, mask, positions, labels, bias, x, seq, ...grads.values()]);
  return out;
}

export interface TimingOptions {
  steps: number;
  warmup: number;
  /** Repetitions of each phase measurement. */
  phaseReps: number;
}

/** tfjs kernel calls while f runs (tf.profile; what fewer, larger kernels save is the engine's work per call). */
export async function countKernels(f: () => unknown): Promise<number> {
  // tf.profile awaits the function, so kernels launched by an async step are counted too.
  const info = await tf.profile(async () => {
    await f();
  });
  return info.kernels.length;
}

/** Times the step on the active tfjs backend. */
export async function timeTfjs(
  s: ThroughputSetup,
  backend: BackendInfo,
  o: TimingOptions,
): Promise<EngineTiming & { maskedTokens: number }> {
  const rng = new Rng(1);
  const model = createBert(s.model, rng);
  const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
  const batch = syntheticBatch(rng, s.model.vocabSize, s.batchSize, s.seqLen);
  const gates = fullDepth(s.model.layers);
  const ms: number[] = [];
  for (let t = 0; t < o.warmup; t++)
    await mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let t = o.warmup; t < o.warmup + o.steps; t++) {
    const t0 = performance.now();
    await mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step: t });
    ms.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
  const step = o.warmup + o.steps;
  const kernelsPerStep = await countKernels(() =>
    mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-4, clipNorm: 1, step }),
  );
  const phases = await phaseTimes(model, opt, batch, s, o.phaseReps);
  const params = countParams(model).total;
  opt.dispose();
  disposeBert(model);
  const engine =
    backend.backend === 'wasm'
      ? `tfjs wasm${backend.native ? ' + native kernels' : ' kernels only'}`
      : `tfjs ${backend.backend}`;
  return {
    engine,
    threads: backend.threads,
    msPerStep: median(ms),
    cpuPerWall,
    phases,
    params,
    kernelsPerStep,
    maskedTokens: batch.maskedPositions.length,
  };
}

/** The first Python that can `import torch`: PLD_PYTHON, then python3 on PATH, then Debian's. */
export function findTorchPython(): { python: string } | { unavailable: string } {
  const candidates = [process.env.PLD_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) return { python };
  }
  return {
    unavailable: `no Python with torch (tried ${[...new Set(candidates)].join(', ')}; Debian: apt-get install python3-torch, or set PLD_PYTHON)`,
  };
}

/** Times the same step in PyTorch (the twin's `python -m pld_torch.bench`), or says why it could not. */
export function timeTorch(
  s: ThroughputSetup,
  threads: number,
  o: TimingOptions,
  python: string,
): EngineTiming | Unavailable {
  const pkg = path.join(kitRoot(), 'python');
  if (!fs.existsSync(path.join(pkg, 'pld_torch', 'bench.py')))
    return { engine: 'PyTorch', unavailable: `${pkg}/pld_torch/bench.py is missing` };
  const arg = {
    ...s.model,
    batchSize: s.batchSize,
    seqLen: s.seqLen,
    threads,
    warmup: o.warmup,
    steps: o.steps,
    phaseReps: o.phaseReps,
  };
  // One BLAS thread inside PyTorch's own pool of `threads` (see python/pld_torch/bench.py's docstring).
  const env = {
    ...process.env,
    PYTHONPATH: pkg,
    OPENBLAS_NUM_THREADS: '1',
    OMP_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
  };
  const r = spawnSync(python, ['-m', 'pld_torch.bench', JSON.stringify(arg)], {
    encoding: 'utf8',
    env,
    timeout: 30 * 60_000,
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0)
    return {
      engine: 'PyTorch',
      unavailable: `pld_torch.bench failed (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`,
    };
  const out = JSON.parse(r.stdout) as {
    torch: string;
    threads: number;
    params: number;
    msPerStep: number[];
    cpuPerWall: number;
    phases: Phases;
  };
  return {
    engine: `PyTorch ${out.torch}`,
    threads: out.threads,
    msPerStep: median(out.msPerStep),
    cpuPerWall: out.cpuPerWall,
    phases: out.phases,
    params: out.params,
  };
}

/** One matrix product of a training step: op(A) m×k times op(B) k×n, `count` times per step. */
export interface ProductShape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  count: number;
  /** One of the independent per-(batch, head) attention products, which run side by side. */
  perHead: boolean;
}

/**
 * Every matrix product of one training step: each dense layer's forward product and its two
 * gradients (dx = dy·Wᵀ, dW = xᵀ·dy), and the attention's two per-(batch, head) products forward
 * and four backward. Their multiply-adds sum to `stepMacs`.
 */
export function stepProducts(s: ThroughputSetup, maskedTokens: number): ProductShape[] {
  const c = s.model;
  const L = c.layers;
  const R = s.batchSize * s.seqLen;
  const S = s.seqLen;
  const dh = c.hidden / c.heads;
  const M = maskedTokens;
  const dense = (rows: number, inDim: number, outDim: number, count: number): ProductShape[] => [
    { m: rows, n: outDim, k: inDim, transA: false, transB: false, count, perHead: false },
    { m: rows, n: inDim, k: outDim, transA: false, transB: true, count, perHead: false },
    { m: inDim, n: outDim, k: rows, transA: true, transB: false, count, perHead: false },
  ];
  const heads = L * s.batchSize * c.heads;
  const head = (m: number, n: number, k: number, transA: boolean, transB: boolean): ProductShape => ({
    m,
    n,
    k,
    transA,
    transB,
    count: heads,
    perHead: true,
  });
  return [
    ...dense(R, c.hidden, c.hidden, 4 * L),
    ...dense(R, c.hidden, c.intermediate, L),
    ...dense(R, c.intermediate, c.hidden, L),
    // scores = q·kᵀ, ctx = p·v; backward: dp = dctx·vᵀ, dv = pᵀ·dctx, dq = ds·k, dk = dsᵀ·q.
    head(S, S, dh, false, true),
    head(S, dh, S, false, false),
    head(S, S, dh, false, true),
    head(S, dh, S, true, false),
    head(S, dh, S, false, false),
    head(S, dh, S, true, false),
    ...dense(M, c.hidden, c.hidden, 1),
    // The tied decoder t·Eᵀ [M, V] and its gradients dt = dlogits·E, dE = dlogitsᵀ·t.
    { m: M, n: c.vocabSize, k: c.hidden, transA: false, transB: true, count: 1, perHead: false },
    { m: M, n: c.hidden, k: c.vocabSize, transA: false, transB: false, count: 1, perHead: false },
    { m: c.vocabSize, n: c.hidden, k: M, transA: true, transB: false, count: 1, perHead: false },
  ];
}

/** The roofline: ms of a step's matrix products done by cblas_sgemm alone on `threads` threads. */
export interface Roofline {
  threads: number;
  ms: number;
  macs: number;
}

/**
 * Times every product of the step with cblas_sgemm through the addon, each shape on its own
 * (OpenBLAS on `threads` threads), and adds them up. The per-(batch, head) attention products
 * are independent and small: they are timed on one thread and divided by `threads`, as they run
 * side by side. Null when the addon is not built.
 */
export function measureRoofline(
  s: ThroughputSetup,
  maskedTokens: number,
  threads: number,
  targetMs = 20,
): Roofline | null {
  const nat = loadNativeKernels();
  if (!nat.ok) return null;
  let ms = 0;
  let macs = 0;
  for (const p of stepProducts(s, maskedTokens)) {
    const each = p.m * p.n * p.k;
    if (each === 0) continue;
    // About targetMs of work per shape at 50 GMAC/s, at least 3 repetitions.
    const reps = Math.max(3, Math.min(1000, Math.round((targetMs * 5e7) / each)));
    const t = nat.kernels.sgemmAlone(p.m, p.n, p.k, p.transA, p.transB, p.perHead ? 1 : threads, reps);
    ms += (p.count * t) / (p.perHead ? threads : 1);
    macs += p.count * each;
  }
  return { threads, ms, macs };
}

/** One setup's rows as a Markdown table; ratios are against the PyTorch row of the same thread count. */
export function throughputTable(
  s: ThroughputSetup,
  rows: (EngineTiming | Unavailable)[],
  maskedTokens: number,
  backend: BackendInfo,
  rooflines: Roofline[] = [],
): string {
  const macs = stepMacs(s, maskedTokens);
  const tokens = s.batchSize * s.seqLen;
  const f = (x: number, d = 1): string => x.toFixed(d);
  const header = [
    'engine',
    'threads',
    'CPU/wall',
    'ms/step',
    'tokens/s',
    'GMAC/s',
    'of roofline',
    'kernels/step',
    'embeddings ms',
    'blocks ms',
    'MLM head ms',
    'optimizer ms',
    'rest ms',
    '× PyTorch',
  ];
  const roofGmacs = (threads: number): number | undefined => {
    const r = rooflines.find((x) => x.threads === threads);
    return r ? r.macs / 1e6 / r.ms : undefined;
  };
  const cells = rows.map((r): string[] => {
    if ('unavailable' in r)
      return [r.engine, '', '', `not measured: ${r.unavailable}`, ...header.slice(4).map(() => '')];
    const torch = rows.find(
      (t): t is EngineTiming => !('unavailable' in t) && t.engine.startsWith('PyTorch') && t.threads === r.threads,
    );
    const p = r.phases;
    const rest = r.msPerStep - (p.embeddings + p.blocks + p.head + p.optimizer);
    const ratio = torch ? `${f(r.msPerStep / torch.msPerStep, 2)}×` : '—';
    const gmacs = macs / 1e6 / r.msPerStep;
    const roof = roofGmacs(r.threads);
    return [
      r.engine,
      String(r.threads),
      f(r.cpuPerWall, 2),
      f(r.msPerStep),
      f((tokens * 1000) / r.msPerStep, 0),
      f(gmacs),
      roof ? `${f((100 * gmacs) / roof, 0)} %` : '—',
      r.kernelsPerStep === undefined ? '—' : String(r.kernelsPerStep),
      f(p.embeddings),
      f(p.blocks),
      f(p.head),
      f(p.optimizer),
      f(rest),
      ratio,
    ];
  });
  for (const r of rooflines) {
    const g = r.macs / 1e6 / r.ms;
    cells.push([
      `cblas_sgemm alone at the step's shapes (roofline)`,
      String(r.threads),
      '',
      f(r.ms),
      f((tokens * 1000) / r.ms, 0),
      f(g),
      '100 %',
      ...header.slice(7).map(() => ''),
    ]);
  }
  const align: Align[] = ['left', ...header.slice(1).map((): Align => 'right')];
  return [
    `**${s.label}**: ${f(macs / 1e9, 2)} GMAC per step (matrix products, forward × 3); ${describeBackend(backend)}`,
    '',
    renderMarkdownTable(header, cells, align),
  ].join('\n');
}
