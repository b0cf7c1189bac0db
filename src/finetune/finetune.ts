/**
 * Fine-tuning (paper §5.3): load a pretrained checkpoint of any variant, add the [CLS] head, train
 * at full depth with AdamW + warmup, evaluate on each dev set, over several seeds and a small LR
 * grid per task (the paper picked the best LR per task). GLUE and the offline suite share this path.
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
import { mean, std } from '../util/stats';
import { Align, renderMarkdownTable } from '../util/tables';

export interface FinetuneConfig {
  epochs: number;
  batchSize: number;
  /** Tokens per example, [CLS] and [SEP]s included. */
  maxSeqLen: number;
  /** LR grid; the best LR per task (mean dev score over seeds) is reported, as in the paper. */
  lrs: number[];
  seeds: number[];
  warmupFraction: number;
  weightDecay: number;
  maxTrain?: number;
  maxDev?: number;
}

export const FINETUNE_DEFAULTS: FinetuneConfig = {
  epochs: 4, // BERT's GLUE recipe uses 2–4 epochs
  batchSize: 16,
  maxSeqLen: 64,
  lrs: [3e-3], // small models fine-tune best near 3e-3 (measured on the offline suite); BERT-base used 2e-5–5e-5
  seeds: [1, 2, 3],
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
  bestLr: number;
  mean: number;
  std: number;
  seeds: number;
  baseline: number;
  /** Mean of each metric at the best LR, per dev set. */
  metrics: Record<string, MetricValues>;
}

export interface FinetuneResult {
  checkpoint: string;
  variant: string;
  /** How tables name this checkpoint (e.g. 'PostLN (lr 0.0001)'); the variant when unset. */
  label?: string;
  rows: FinetuneRow[];
  summary: TaskSummary[];
  /** Average of the task scores (GLUE-score style). */
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
  const types = [...new Array<number>(a.length + 2).fill(0), ...new Array<number>(e.textB !== undefined ? b.length + 1 : 0).fill(1)];
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

function batchTensors(d: Encoded, idx: number[]): { ids: tf.Tensor2D; types: tf.Tensor2D; mask: tf.Tensor2D; labels: tf.Tensor1D } {
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
function taskLoss(model: Bert, b: ReturnType<typeof batchTensors>, regression: boolean, rng: Rng | undefined, training: boolean): tf.Scalar {
  const seq = encode(model, { inputIds: b.ids, attentionMask: b.mask, tokenTypeIds: b.types }, { training, gates: fullDepth(model.config.layers), rng });
  const logits = clsLogits(model, seq, { training, rng });
  return regression ? (tf.mean(tf.square(tf.sub(logits.reshape([-1]), b.labels))) as tf.Scalar) : crossEntropy(logits, tf.cast(b.labels, 'int32') as tf.Tensor1D);
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
  throw new Error(`no checkpoint at ${p} (expected state.json there or in ${path.join(p, 'checkpoint')}); pass a pretraining run's --out directory`);
}

/** Fine-tunes one checkpoint on one task for one LR and seed; returns dev-set metrics. */
export async function finetuneOnce(ckpt: string, pre: RunConfig, tok: WordPieceTokenizer, task: TaskData, cfg: FinetuneConfig, lr: number, seed: number, onStep?: (loss: number) => void): Promise<Record<string, MetricValues>> {
  const spec = task.spec;
  const regression = spec.kind === 'regression';
  const rng = new Rng(seed);
  // Sequences cannot be longer than the position table the checkpoint was trained with.
  const maxLen = Math.min(cfg.maxSeqLen, pre.model.maxPositions);
  const model = createBert(pre.model, rng.fork(), { mlmHead: false, numLabels: spec.numLabels });
  try {
    // The pooler and classifier are new; everything else must come from the checkpoint.
    loadWeights(model, path.join(ckpt, 'weights.safetensors'), { allowMissing: (n) => n.startsWith('bert.pooler.') || n.startsWith('classifier.') });
    const train = encodeAll(tok, task.train, maxLen);
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
        const r = await trainStep(model, opt, () => taskLoss(model, b, regression, rng, true), active, { step, lr: learningRate(sched, step), clipNorm: 1 });
        tf.dispose([b.ids, b.types, b.mask, b.labels]);
        onStep?.(r.loss);
      }
    }
    opt.dispose();
    const out: Record<string, MetricValues> = {};
    for (const [name, dev] of Object.entries(task.dev)) {
      const d = encodeAll(tok, dev, maxLen);
      out[name] = computeMetrics(spec, await predict(model, d, regression, 64), dev.map((e) => e.label));
    }
    return out;
  } finally {
    disposeBert(model);
  }
}


export interface FinetuneOptions {
  /** A pretraining run directory (or its checkpoint directory). */
  checkpoint: string;
  /** Offline-suite or GLUE task names. */
  tasks: string[];
  /** GLUE data directory; GLUE task names need it. */
  glueDir?: string;
  config?: Partial<FinetuneConfig>;
  /** Where results.csv / results.md / results.json go (default <run>/finetune). */
  out?: string;
  backend?: BackendName;
  threads?: number;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const cfg: FinetuneConfig = { ...FINETUNE_DEFAULTS, ...o.config };
  const ckpt = checkpointDir(o.checkpoint);
  const state = readCheckpointState<RunConfig, unknown>(ckpt);
  const pre = state.config;
  const tok = WordPieceTokenizer.fromVocabFile(resolveKitPath(pre.data.vocab));
  if (tok.vocabSize !== pre.model.vocabSize) {
    throw new Error(`checkpoint ${ckpt} was trained with a ${pre.model.vocabSize}-token vocabulary but ${pre.data.vocab} has ${tok.vocabSize} tokens; use the vocab.txt the checkpoint was trained with`);
  }
  const out = o.out ?? path.join(path.dirname(ckpt), 'finetune');
  checkWritableDir(out);
  const backend = await initBackend({ backend: o.backend, threads: o.threads });
  const tasks = o.tasks.map((t) => loadTask(t, { glueDir: o.glueDir, maxTrain: cfg.maxTrain, maxDev: cfg.maxDev }));
  const rows: FinetuneRow[] = [];
  const summary: TaskSummary[] = [];
  for (const task of tasks) {
    const runs = cfg.lrs.length * cfg.seeds.length;
    const steps = Math.ceil(task.train.length / cfg.batchSize) * cfg.epochs * runs;
    const progress = createProgress(`finetune ${task.spec.name}`, steps, 0, o.stream, o.quiet);
    let k = 0;
    const byLr = new Map<number, { score: number; metrics: Record<string, MetricValues> }[]>();
    for (const lr of cfg.lrs) {
      for (const seed of cfg.seeds) {
        const m = await finetuneOnce(ckpt, pre, tok, task, cfg, lr, seed, (loss) => progress.update(k++, { loss }));
        const perDev = Object.entries(m);
        const score = mean(perDev.map(([, v]) => taskScore(v)));
        for (const [devSet, metrics] of perDev) rows.push({ task: task.spec.name, devSet, lr, seed, metrics, score: taskScore(metrics) });
        byLr.set(lr, [...(byLr.get(lr) ?? []), { score, metrics: m }]);
      }
    }
    progress.done();
    const [bestLr, best] = [...byLr].sort((a, b) => mean(b[1].map((r) => r.score)) - mean(a[1].map((r) => r.score)))[0];
    const metrics: Record<string, MetricValues> = {};
    for (const devSet of Object.keys(task.dev)) {
      const names = Object.keys(best[0].metrics[devSet]) as (keyof MetricValues)[];
      metrics[devSet] = Object.fromEntries(names.map((n) => [n, mean(best.map((r) => r.metrics[devSet][n] as number))]));
    }
    const baseline = mean(Object.values(task.baseline).map((b) => b.score));
    summary.push({ task: task.spec.name, bestLr, mean: mean(best.map((r) => r.score)), std: std(best.map((r) => r.score)), seeds: best.length, baseline, metrics });
    progress.line(`finetune ${task.spec.name}: ${mean(best.map((r) => r.score)).toFixed(1)} ± ${std(best.map((r) => r.score)).toFixed(1)} (baseline ${baseline.toFixed(1)}, lr ${bestLr})`);
  }
  const manifestFile = path.join(path.dirname(ckpt), 'manifest.json');
  const pretrainManifest: unknown = fs.existsSync(manifestFile) ? JSON.parse(fs.readFileSync(manifestFile, 'utf8')) : null;
  const result: FinetuneResult = {
    checkpoint: ckpt,
    variant: pre.variant,
    rows,
    summary,
    average: glueScore(summary.map((s) => s.mean)),
    environment: environment(backend),
    pretrainManifest,
  };
  writeResults(out, result);
  return result;
}

/** One row per task: score mean ± std over seeds, against the trivial baseline. */
export function summaryTable(results: FinetuneResult[]): { task: string; variant: string; mean: number; std: number; baseline: number; bestLr: number }[] {
  return results.flatMap((r) => r.summary.map((s) => ({ task: s.task, variant: r.label ?? r.variant, mean: s.mean, std: s.std, baseline: s.baseline, bestLr: s.bestLr })));
}

/** Dev scores (mean ± std over seeds) per task and checkpoint, the average, and the first checkpoint's trivial baseline. */
export function markdownTable(results: FinetuneResult[]): string {
  const tasks = [...new Set(results.flatMap((r) => r.summary.map((s) => s.task)))];
  const rows = results.map((r) => [
    r.label ?? r.variant,
    ...tasks.map((t) => {
      const s = r.summary.find((x) => x.task === t);
      return s ? `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}` : '';
    }),
    r.average.toFixed(1),
  ]);
  const base = results[0]?.summary;
  if (base) {
    rows.push(['majority / mean baseline', ...tasks.map((t) => base.find((s) => s.task === t)?.baseline.toFixed(1) ?? ''), glueScore(base.map((s) => s.baseline)).toFixed(1)]);
  }
  const align: Align[] = ['left', ...tasks.map((): Align => 'right'), 'right'];
  return renderMarkdownTable(['model', ...tasks, 'average'], rows, align) + '\n';
}

function writeResults(out: string, r: FinetuneResult): void {
  // danfojs DataFrame → CSV, as users will read it back with dfd.readCSV.
  const dfd = require('danfojs-node') as { DataFrame: new (rows: object[]) => object; toCSV: (df: object) => string };
  const flat = r.rows.map((x) => ({ task: x.task, devSet: x.devSet, lr: x.lr, seed: x.seed, score: x.score, ...x.metrics }));
  writeFileAtomic(path.join(out, 'results.csv'), dfd.toCSV(new dfd.DataFrame(flat)));
  writeFileAtomic(path.join(out, 'results.md'), markdownTable([r]));
  writeFileAtomic(path.join(out, 'results.json'), JSON.stringify(r, null, 1));
}
