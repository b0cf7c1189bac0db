/**
 * Fine-tuning (paper §5.3): load a pretrained checkpoint of any variant (or, as the control, a
 * random initialisation of the same shape), add the [CLS] head, train at full depth with AdamW +
 * warmup. The protocol per task: choose the learning rate on a held-out part of the *training*
 * examples (the dev set is never read for it), then train on all training examples with each seed
 * and report the dev score's median and interquartile range over seeds (GLUE papers report medians
 * of 5 runs). GLUE and the offline suite share this path.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BackendName, initBackend } from '../backend';
import { Bert, clsLogits, createBert, crossEntropy, disposeBert, encode, activeParamNames } from '../model/bert';
import { Rng } from '../util/rng';
import { fullDepth } from '../schedule';
import { loadWeights, readCheckpointState } from '../checkpoint/checkpoint';
import { checkWritableDir, resolveCheckpointDir, writeFileAtomic } from '../util/atomic';
import { RunConfig } from '../train/config';
import { AdamW, ADAMW_DEFAULTS } from '../train/optimizer';
import { learningRate } from '../train/lr';
import { trainStep } from '../train/step';
import { createProgress } from '../train/progress';
import { WordPieceTokenizer } from '../data/tokenizer';
import { Example, MetricValues, TaskData } from '../tasks/types';
import { computeMetrics, taskScore, glueScore } from '../tasks/metrics';
import { environment, Environment } from '../util/manifest';
import { loadTask } from './tasks';
import { resolveKitPath } from '../util/paths';
import { mean, median, quantile, std } from '../util/stats';
import { hashUnit } from '../data/corpus';
import { Align, renderMarkdownTable } from '../util/tables';

export interface FinetuneConfig {
  epochs: number;
  batchSize: number;
  /** Tokens per example, [CLS] and [SEP]s included. */
  maxSeqLen: number;
  /** LR grid; each task's LR is the one scoring best on the held-out part of its training examples. */
  lrs: number[];
  /** Seeds of the reported runs (at least 5 for a median and IQR worth reading). */
  seeds: number[];
  /** Fraction of the training examples held out to choose the LR (whole documents go to one side). */
  heldOutFraction: number;
  /** Seeds per LR when choosing it (the first of `seeds`, …); the choice is the best median held-out score. */
  selectionSeeds: number;
  warmupFraction: number;
  weightDecay: number;
  maxTrain?: number;
  maxDev?: number;
  /**
   * Settings of one task that differ from the rest, by task name (e.g. a task that needs more
   * examples or epochs to be learnable at all within a small budget).
   */
  perTask?: Record<string, TaskOverrides>;
}

/** What `perTask` may change for one task. */
export type TaskOverrides = Partial<Pick<FinetuneConfig, 'epochs' | 'maxTrain' | 'maxDev' | 'lrs'>>;

/** The settings one task runs with: the config with that task's overrides applied. */
export function taskConfig(cfg: FinetuneConfig, task: string): FinetuneConfig {
  const key = Object.keys(cfg.perTask ?? {}).find((k) => k.toLowerCase() === task.toLowerCase());
  return key ? { ...cfg, ...cfg.perTask?.[key] } : cfg;
}

export const FINETUNE_DEFAULTS: FinetuneConfig = {
  epochs: 4, // BERT's GLUE recipe uses 2–4 epochs
  batchSize: 16,
  maxSeqLen: 64,
  lrs: [3e-3], // small models fine-tune best near 3e-3 (measured on the offline suite); BERT-base used 2e-5–5e-5
  seeds: [1, 2, 3, 4, 5],
  heldOutFraction: 0.2,
  selectionSeeds: 1,
  warmupFraction: 0.1, // BERT's fine-tuning warmup
  weightDecay: 0.01,
};

export interface FinetuneRow {
  task: string;
  devSet: string;
  lr: number;
  seed: number;
  metrics: MetricValues;
  /** taskScore of the metrics (×100). */
  score: number;
}

export interface TaskSummary {
  task: string;
  /** The LR chosen on the held-out training examples. */
  bestLr: number;
  /** Median held-out score of each LR tried (empty when the grid has one LR: nothing to choose). */
  heldOut: { lr: number; score: number }[];
  /** Dev score over seeds: median, quartiles (numpy's linear method), mean and standard deviation. */
  median: number;
  q1: number;
  q3: number;
  mean: number;
  std: number;
  /** Dev score of each seed, in `seeds` order. */
  scores: number[];
  seeds: number;
  baseline: number;
  /** Median of each metric over seeds, per dev set. */
  metrics: Record<string, MetricValues>;
}

/** Where the encoder's weights come from: the checkpoint, or a random initialisation of its shape (the control). */
export type FinetuneInit = 'pretrained' | 'random';

export interface FinetuneResult {
  checkpoint: string;
  variant: string;
  init: FinetuneInit;
  /** The protocol's settings (a cached result is reused only with the same ones). */
  config: FinetuneConfig;
  /** How tables name this checkpoint (e.g. 'PostLN (lr 0.0001)'); the variant when unset. */
  label?: string;
  rows: FinetuneRow[];
  summary: TaskSummary[];
  /** Average of the tasks' median scores (GLUE-score style). */
  average: number;
  environment: Environment;
  pretrainManifest: unknown;
}

/** [CLS] a [SEP] (b [SEP]) with BERT's longest-first truncation; segment ids 0 then 1. */
export function encodeExample(tok: WordPieceTokenizer, e: Example, maxLen: number): { ids: number[]; types: number[] } {
  const a = tok.encode(e.textA);
  const b = e.textB !== undefined ? tok.encode(e.textB) : [];
  const budget = maxLen - (e.textB !== undefined ? 3 : 2);
  while (a.length + b.length > budget) (a.length >= b.length ? a : b).pop();
  const ids = [tok.clsId, ...a, tok.sepId, ...(e.textB !== undefined ? [...b, tok.sepId] : [])];
  const types = [
    ...new Array<number>(a.length + 2).fill(0),
    ...new Array<number>(e.textB !== undefined ? b.length + 1 : 0).fill(1),
  ];
  return { ids, types };
}

interface Encoded {
  ids: Int32Array;
  types: Int32Array;
  mask: Int32Array;
  labels: Float32Array;
  n: number;
  seqLen: number;
}

function encodeAll(tok: WordPieceTokenizer, xs: Example[], maxLen: number): Encoded {
  const enc = xs.map((e) => encodeExample(tok, e, maxLen));
  const seqLen = Math.max(2, ...enc.map((e) => e.ids.length));
  const n = xs.length;
  const ids = new Int32Array(n * seqLen).fill(tok.padId);
  const types = new Int32Array(n * seqLen);
  const mask = new Int32Array(n * seqLen);
  enc.forEach((e, i) => {
    ids.set(e.ids, i * seqLen);
    types.set(e.types, i * seqLen);
    mask.fill(1, i * seqLen, i * seqLen + e.ids.length);
  });
  return { ids, types, mask, labels: Float32Array.from(xs.map((e) => e.label)), n, seqLen };
}

function batchTensors(
  d: Encoded,
  idx: number[],
): { ids: tf.Tensor2D; types: tf.Tensor2D; mask: tf.Tensor2D; labels: tf.Tensor1D } {
  const S = d.seqLen;
  const pick = <T extends Int32Array>(src: T): Int32Array => {
    const out = new Int32Array(idx.length * S);
    idx.forEach((j, i) => out.set(src.subarray(j * S, (j + 1) * S), i * S));
    return out;
  };
  return {
    ids: tf.tensor2d(pick(d.ids), [idx.length, S], 'int32'),
    types: tf.tensor2d(pick(d.types), [idx.length, S], 'int32'),
    mask: tf.tensor2d(pick(d.mask), [idx.length, S], 'int32'),
    labels: tf.tensor1d(Float32Array.from(idx.map((j) => d.labels[j]))),
  };
}

/** Classification: cross-entropy; regression (numLabels = 1): mean squared error. */
function taskLoss(
  model: Bert,
  b: ReturnType<typeof batchTensors>,
  regression: boolean,
  rng: Rng | undefined,
  training: boolean,
): tf.Scalar {
  const seq = encode(
    model,
    { inputIds: b.ids, attentionMask: b.mask, tokenTypeIds: b.types },
    { training, gates: fullDepth(model.config.layers), rng },
  );
  const logits = clsLogits(model, seq, { training, rng });
  return regression
    ? (tf.mean(tf.square(tf.sub(logits.reshape([-1]), b.labels))) as tf.Scalar)
    : crossEntropy(logits, tf.cast(b.labels, 'int32') as tf.Tensor1D);
}

async function predict(model: Bert, d: Encoded, regression: boolean, batchSize: number): Promise<number[]> {
  const out: number[] = [];
  for (let s = 0; s < d.n; s += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, d.n - s) }, (_, k) => s + k);
    const p = tf.tidy(() => {
      const b = batchTensors(d, idx);
      const seq = encode(model, { inputIds: b.ids, attentionMask: b.mask, tokenTypeIds: b.types }, { training: false });
      const logits = clsLogits(model, seq, { training: false });
      return regression ? logits.reshape([-1]) : tf.argMax(logits, -1);
    });
    out.push(...Array.from(await p.data()));
    p.dispose();
  }
  return out;
}

/** Resolves a run directory or a checkpoint directory to the checkpoint directory. */
export function checkpointDir(p: string): string {
  for (const d of [p, path.join(p, 'checkpoint')]) {
    const real = resolveCheckpointDir(d); // falls back to `<dir>.old` after a crash mid-save
    if (real && fs.existsSync(path.join(real, 'state.json'))) return real;
  }
  throw new Error(
    `no checkpoint at ${p} (expected state.json there or in ${path.join(p, 'checkpoint')}); pass a pretraining run's --out directory`,
  );
}

/** Fine-tunes on `train` and scores each of `evalSets`: the one operation the protocol repeats. */
export type TrainAndScore = (
  train: Example[],
  evalSets: Record<string, Example[]>,
  lr: number,
  seed: number,
) => Promise<Record<string, MetricValues>>;

/**
 * Fine-tunes the checkpoint's encoder (or a random one of its shape, for `init: 'random'`) on
 * `train` for one LR and seed; returns the metrics of each of `evalSets`.
 */
export async function finetuneOnce(
  ckpt: string,
  pre: RunConfig,
  tok: WordPieceTokenizer,
  spec: TaskData['spec'],
  data: { train: Example[]; evalSets: Record<string, Example[]> },
  cfg: FinetuneConfig,
  run: { lr: number; seed: number; init: FinetuneInit },
  onStep?: (loss: number) => void | Promise<void>,
): Promise<Record<string, MetricValues>> {
  const { lr, seed } = run;
  const regression = spec.kind === 'regression';
  const rng = new Rng(seed);
  // Sequences cannot be longer than the position table the checkpoint was trained with.
  const maxLen = Math.min(cfg.maxSeqLen, pre.model.maxPositions);
  const model = createBert(pre.model, rng.fork(), { mlmHead: false, numLabels: spec.numLabels });
  try {
    // The pooler and classifier are new; everything else must come from the checkpoint.
    if (run.init === 'pretrained')
      loadWeights(model, path.join(ckpt, 'weights.safetensors'), {
        allowMissing: (n) => n.startsWith('bert.pooler.') || n.startsWith('classifier.'),
      });
    const train = encodeAll(tok, data.train, maxLen);
    const opt = new AdamW({ ...ADAMW_DEFAULTS, weightDecay: cfg.weightDecay }, model.decay);
    const perEpoch = Math.ceil(train.n / cfg.batchSize);
    const total = perEpoch * cfg.epochs;
    const sched = { peak: lr, warmupSteps: Math.max(1, Math.round(cfg.warmupFraction * total)), totalSteps: total };
    const gates = fullDepth(pre.model.layers);
    const active = activeParamNames(model, gates, { mlm: false, cls: true });
    let step = 0;
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const order = rng.shuffle(Array.from({ length: train.n }, (_, i) => i));
      for (let s = 0; s < train.n; s += cfg.batchSize, step++) {
        const idx = order.slice(s, s + cfg.batchSize);
        const b = batchTensors(train, idx);
        const r = await trainStep(model, opt, () => taskLoss(model, b, regression, rng, true), active, {
          step,
          lr: learningRate(sched, step),
          clipNorm: 1,
        });
        tf.dispose([b.ids, b.types, b.mask, b.labels]);
        await onStep?.(r.loss);
      }
    }
    opt.dispose();
    const out: Record<string, MetricValues> = {};
    for (const [name, dev] of Object.entries(data.evalSets)) {
      const d = encodeAll(tok, dev, maxLen);
      out[name] = computeMetrics(
        spec,
        await predict(model, d, regression, 64),
        dev.map((e) => e.label),
      );
    }
    return out;
  } finally {
    disposeBert(model);
  }
}

/**
 * The training examples split into a part to fit and a part held out to choose the LR. Examples of
 * one document (their first `origin`) go to the same side, so the held-out score is not inflated by
 * text the fit part shares; the split is a fixed hash, the same for every seed and LR.
 */
export function holdOut(train: Example[], fraction: number): { fit: Example[]; heldOut: Example[] } {
  if (!(fraction > 0 && fraction < 1))
    throw new Error(`heldOutFraction must be between 0 and 1 (exclusive), got ${fraction}`);
  const fit: Example[] = [];
  const heldOut: Example[] = [];
  train.forEach((e, i) => (hashUnit(`lr-held-out:${e.origin?.[0] ?? i}`) < fraction ? heldOut : fit).push(e));
  if (fit.length === 0 || heldOut.length === 0) {
    throw new Error(
      `cannot hold out ${fraction} of ${train.length} training examples by document (${heldOut.length} held out); use more training examples or a single learning rate`,
    );
  }
  return { fit, heldOut };
}

/** Score of one run: the mean task score over the sets it was scored on. */
const runScore = (m: Record<string, MetricValues>): number => mean(Object.values(m).map((v) => taskScore(v)));

/** What the protocol did for one task: the LR it chose, why, and the reported runs. */
export interface TaskRuns {
  bestLr: number;
  heldOut: { lr: number; score: number }[];
  runs: { seed: number; metrics: Record<string, MetricValues> }[];
}

/**
 * The fine-tuning protocol for one task. With more than one LR, each is trained on the fit part
 * of the training examples (`selectionSeeds` seeds) and scored on the held-out part; the best
 * median wins (ties: the first in the grid). Then each seed trains on all training examples at
 * that LR and is scored on the dev sets. `trainAndScore` is the only thing that trains, and the
 * dev sets are passed to it only after the LR is chosen.
 */
export async function runTaskProtocol(
  task: TaskData,
  cfg: FinetuneConfig,
  trainAndScore: TrainAndScore,
): Promise<TaskRuns> {
  if (cfg.lrs.length === 0) throw new Error('fine-tuning needs at least one learning rate (lrs)');
  if (cfg.seeds.length === 0) throw new Error('fine-tuning needs at least one seed (seeds)');
  const heldOut: { lr: number; score: number }[] = [];
  let bestLr = cfg.lrs[0];
  if (cfg.lrs.length > 1) {
    const split = holdOut(task.train, cfg.heldOutFraction);
    const seeds = cfg.seeds.slice(0, Math.max(1, cfg.selectionSeeds));
    for (const lr of cfg.lrs) {
      const scores: number[] = [];
      for (const seed of seeds)
        scores.push(runScore(await trainAndScore(split.fit, { heldOut: split.heldOut }, lr, seed)));
      heldOut.push({ lr, score: median(scores) });
    }
    bestLr = heldOut.reduce((a, b) => (b.score > a.score ? b : a)).lr;
  }
  const runs: TaskRuns['runs'] = [];
  for (const seed of cfg.seeds) runs.push({ seed, metrics: await trainAndScore(task.train, task.dev, bestLr, seed) });
  return { bestLr, heldOut, runs };
}

export interface FinetuneOptions {
  /** A pretraining run directory (or its checkpoint directory). */
  checkpoint: string;
  /** Offline-suite or GLUE task names. */
  tasks: string[];
  /** GLUE data directory; GLUE task names need it. */
  glueDir?: string;
  config?: Partial<FinetuneConfig>;
  /** 'random': the control, a randomly initialised encoder of the checkpoint's shape (default 'pretrained'). */
  init?: FinetuneInit;
  /** Where results.csv / results.md / results.json go (default <run>/finetune, or <run>/finetune-random for the control). */
  out?: string;
  backend?: BackendName;
  threads?: number;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const cfg: FinetuneConfig = { ...FINETUNE_DEFAULTS, ...o.config };
  const init: FinetuneInit = o.init ?? 'pretrained';
  const ckpt = checkpointDir(o.checkpoint);
  const state = readCheckpointState<RunConfig, unknown>(ckpt);
  const pre = state.config;
  const tok = WordPieceTokenizer.fromVocabFile(resolveKitPath(pre.data.vocab));
  if (tok.vocabSize !== pre.model.vocabSize) {
    throw new Error(
      `checkpoint ${ckpt} was trained with a ${pre.model.vocabSize}-token vocabulary but ${pre.data.vocab} has ${tok.vocabSize} tokens; use the vocab.txt the checkpoint was trained with`,
    );
  }
  const out = o.out ?? path.join(path.dirname(ckpt), init === 'random' ? 'finetune-random' : 'finetune');
  checkWritableDir(out);
  const backend = await initBackend({ backend: o.backend, threads: o.threads });
  const tasks = o.tasks.map((t) => {
    const tc = taskConfig(cfg, t);
    return { tc, task: loadTask(t, { glueDir: o.glueDir, maxTrain: tc.maxTrain, maxDev: tc.maxDev }) };
  });
  const rows: FinetuneRow[] = [];
  const summary: TaskSummary[] = [];
  for (const { tc, task } of tasks) {
    const stepsFor = (n: number): number => Math.ceil(n / tc.batchSize) * tc.epochs;
    const selection =
      tc.lrs.length > 1
        ? tc.lrs.length *
          Math.min(Math.max(1, tc.selectionSeeds), tc.seeds.length) *
          stepsFor(holdOut(task.train, tc.heldOutFraction).fit.length)
        : 0;
    const progress = createProgress(
      `finetune ${task.spec.name}${init === 'random' ? ' (random init)' : ''}`,
      selection + tc.seeds.length * stepsFor(task.train.length),
      0,
      o.stream,
      o.quiet,
    );
    let k = 0;
    const trainAndScore: TrainAndScore = (train, evalSets, lr, seed) =>
      finetuneOnce(ckpt, pre, tok, task.spec, { train, evalSets }, tc, { lr, seed, init }, async (loss) => {
        progress.update(k++, { loss });
        // In a notebook, lets the kernel send the update while the loop runs.
        await progress.flush();
      });
    const p = await runTaskProtocol(task, tc, trainAndScore);
    progress.done();
    for (const r of p.runs)
      for (const [devSet, metrics] of Object.entries(r.metrics))
        rows.push({ task: task.spec.name, devSet, lr: p.bestLr, seed: r.seed, metrics, score: taskScore(metrics) });
    const scores = p.runs.map((r) => runScore(r.metrics));
    const metrics: Record<string, MetricValues> = {};
    for (const devSet of Object.keys(task.dev)) {
      const names = Object.keys(p.runs[0].metrics[devSet]) as (keyof MetricValues)[];
      metrics[devSet] = Object.fromEntries(
        names.map((n) => [n, median(p.runs.map((r) => r.metrics[devSet][n] as number))]),
      );
    }
    const baseline = mean(Object.values(task.baseline).map((b) => b.score));
    const s: TaskSummary = {
      task: task.spec.name,
      bestLr: p.bestLr,
      heldOut: p.heldOut,
      median: median(scores),
      q1: quantile(scores, 0.25),
      q3: quantile(scores, 0.75),
      mean: mean(scores),
      std: std(scores),
      scores,
      seeds: scores.length,
      baseline,
      metrics,
    };
    summary.push(s);
    const chosen = p.heldOut.length
      ? ` chosen on held-out training data from ${p.heldOut.map((h) => `${h.lr}: ${h.score.toFixed(1)}`).join(', ')}`
      : '';
    progress.line(
      `finetune ${task.spec.name}${init === 'random' ? ' (random init)' : ''}: median ${s.median.toFixed(1)} [IQR ${s.q1.toFixed(1)}–${s.q3.toFixed(1)}] over ${s.seeds} seeds (baseline ${baseline.toFixed(1)}, lr ${p.bestLr}${chosen})`,
    );
  }
  const manifestFile = path.join(path.dirname(ckpt), 'manifest.json');
  const pretrainManifest: unknown = fs.existsSync(manifestFile)
    ? JSON.parse(fs.readFileSync(manifestFile, 'utf8'))
    : null;
  const result: FinetuneResult = {
    checkpoint: ckpt,
    variant: pre.variant,
    init,
    config: cfg,
    ...(init === 'random' ? { label: RANDOM_INIT_LABEL } : {}),
    rows,
    summary,
    average: glueScore(summary.map((x) => x.median)),
    environment: environment(backend),
    pretrainManifest,
  };
  writeResults(out, result);
  return result;
}

/** How tables and figures name the random-init control. */
export const RANDOM_INIT_LABEL = 'random init (control)';
/** How tables and figures name each task's constant baseline (src/tasks/metrics.ts). */
export const CONSTANT_BASELINE_LABEL = 'constant baseline';

/** One row per task and model: dev score median and quartiles over seeds, the trivial baseline, the chosen LR. */
export function summaryTable(
  results: FinetuneResult[],
): { task: string; variant: string; median: number; q1: number; q3: number; baseline: number; bestLr: number }[] {
  return results.flatMap((r) =>
    r.summary.map((s) => ({
      task: s.task,
      variant: r.label ?? r.variant,
      median: s.median,
      q1: s.q1,
      q3: s.q3,
      baseline: s.baseline,
      bestLr: s.bestLr,
    })),
  );
}

/**
 * Each pretrained model's gain over the random-init control: its median dev score minus the
 * control's, per task (points). What pretraining adds; a gain near 0 means the task does not
 * measure pretraining.
 */
export function gainsOverControl(results: FinetuneResult[]): { task: string; variant: string; gain: number }[] {
  const control = results.find((r) => r.init === 'random');
  if (!control)
    throw new Error(
      `no random-init control among the fine-tuning results (${results.map((r) => r.label ?? r.variant).join(', ')}); fine-tune one with init: 'random'`,
    );
  return results
    .filter((r) => r !== control)
    .flatMap((r) =>
      r.summary.flatMap((s) => {
        const c = control.summary.find((x) => x.task === s.task);
        return c ? [{ task: s.task, variant: r.label ?? r.variant, gain: s.median - c.median }] : [];
      }),
    );
}

/** Dev scores (median [q1–q3] over seeds) per task and model, the average, and the first model's trivial baseline. */
export function markdownTable(results: FinetuneResult[]): string {
  const tasks = [...new Set(results.flatMap((r) => r.summary.map((s) => s.task)))];
  const rows = results.map((r) => [
    r.label ?? r.variant,
    ...tasks.map((t) => {
      const s = r.summary.find((x) => x.task === t);
      return s ? `${s.median.toFixed(1)} [${s.q1.toFixed(1)}–${s.q3.toFixed(1)}]` : '';
    }),
    r.average.toFixed(1),
  ]);
  const base = results[0]?.summary;
  if (base) {
    rows.push([
      CONSTANT_BASELINE_LABEL,
      ...tasks.map((t) => base.find((s) => s.task === t)?.baseline.toFixed(1) ?? ''),
      glueScore(base.map((s) => s.baseline)).toFixed(1),
    ]);
  }
  const align: Align[] = ['left', ...tasks.map((): Align => 'right'), 'right'];
  return renderMarkdownTable(['model', ...tasks, 'average'], rows, align) + '\n';
}

function writeResults(out: string, r: FinetuneResult): void {
  // danfojs DataFrame → CSV, as users will read it back with dfd.readCSV.
  const dfd = require('danfojs-node') as { DataFrame: new (rows: object[]) => object; toCSV: (df: object) => string };
  const flat = r.rows.map((x) => ({
    task: x.task,
    devSet: x.devSet,
    lr: x.lr,
    seed: x.seed,
    score: x.score,
    ...x.metrics,
  }));
  writeFileAtomic(path.join(out, 'results.csv'), dfd.toCSV(new dfd.DataFrame(flat)));
  writeFileAtomic(path.join(out, 'results.md'), markdownTable([r]));
  writeFileAtomic(path.join(out, 'results.json'), JSON.stringify(r, null, 1));
}
