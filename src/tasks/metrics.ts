/**
 * GLUE metrics, task scores and the GLUE score.
 *
 * Every value is a percentage (×100), the way the paper's GLUE table prints them, so a model's
 * numbers can be compared with it directly; take `/100` for sklearn/scipy's fractions.
 *
 * Degenerate inputs (a constant predictor, constant labels, no positive class) return 0 rather
 * than NaN. sklearn already does this for F1 and MCC; scipy returns NaN for Pearson/Spearman of a
 * constant vector. We return 0 there too because a constant predictor carries no correlation
 * information, and a NaN would make the task score and the GLUE average NaN, hiding every other
 * result of the run.
 */
import { Baseline, MetricName, MetricValues, TaskSpec } from './types';
import { mean } from '../util/stats';

function checkPair(what: string, predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (predictions.length !== labels.length) {
    throw new Error(
      `${what}: got ${predictions.length} predictions for ${labels.length} labels; pass one prediction per example`,
    );
  }
  if (labels.length === 0) throw new Error(`${what}: no examples; evaluate on a non-empty dev set`);
}

/** Percentage of exact matches. */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('accuracy', predictions, labels);
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) hits++;
  return (100 * hits) / labels.length;
}

/** Binary confusion counts with class 1 as the positive class. */
export function binaryCounts(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): { tp: number; fp: number; fn: number; tn: number } {
  let tp = 0,
    fp = 0,
    fn = 0,
    tn = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i] === 1;
    const t = labels[i] === 1;
    if (p && t) tp++;
    else if (p) fp++;
    else if (t) fn++;
    else tn++;
  }
  return { tp, fp, fn, tn };
}

/**
 * Binary F1 of class 1 (MRPC's "paraphrase", QQP's "duplicate"), sklearn's `f1_score` default.
 * With no predicted and no true positives F1 is 0/0; like sklearn (zero_division default) we return 0.
 */
export function f1(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('f1', predictions, labels);
  const { tp, fp, fn } = binaryCounts(predictions, labels);
  const denom = 2 * tp + fp + fn;
  return denom === 0 ? 0 : (100 * 2 * tp) / denom;
}

/**
 * Matthews correlation coefficient, multi-class form (Gorodkin 2004), which reduces to
 * (tp·tn − fp·fn)/√((tp+fp)(tp+fn)(tn+fp)(tn+fn)) for two classes, as sklearn computes it:
 *   MCC = (c·s − Σ_k p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²))
 * with s examples, c correct, p_k predicted and t_k true counts of class k.
 * A constant predictor or constant labels make the denominator 0; like sklearn we return 0.
 */
export function matthews(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('matthews', predictions, labels);
  const pred = new Map<number, number>();
  const gold = new Map<number, number>();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    pred.set(predictions[i], (pred.get(predictions[i]) ?? 0) + 1);
    gold.set(labels[i], (gold.get(labels[i]) ?? 0) + 1);
    if (predictions[i] === labels[i]) correct++;
  }
  const s = labels.length;
  let pt = 0,
    pp = 0,
    tt = 0;
  for (const [k, p] of pred) {
    pt += p * (gold.get(k) ?? 0);
    pp += p * p;
  }
  for (const t of gold.values()) tt += t * t;
  const denom = Math.sqrt((s * s - pp) * (s * s - tt));
  return denom === 0 ? 0 : (100 * (correct * s - pt)) / denom;
}

function isConstant(xs: ArrayLike<number>): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i] !== xs[0]) return false;
  return true;
}

/** Pearson's r ×100; 0 when either input is constant (scipy gives NaN, see the file comment). */
export function pearson(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  checkPair('pearson', xs, ys);
  // Test constancy exactly: the mean of n equal floats can differ from them by an ulp, which would
  // give a constant predictor a spurious r of ±1e-14 instead of 0.
  if (isConstant(xs) || isConstant(ys)) return 0;
  const n = xs.length;
  const mx = mean(xs);
  const my = mean(ys);
  // Two-pass (centre, then sum) keeps precision when values are large and close together, e.g. years.
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx;
    const dy = ys[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return 0;
  // Clamp: rounding can push |r| a hair past 1 for perfectly (anti)correlated inputs.
  return 100 * Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks; tied values share the average of the ranks they span (scipy's `rankdata` 'average'). */
export function averageRanks(xs: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: xs.length }, (_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const ranks = new Float64Array(xs.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && xs[order[end]] === xs[order[start]]) end++;
    // Positions start..end-1 hold rank start+1..end; their average is (start+1+end)/2.
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

/** Spearman's ρ ×100: Pearson of the average ranks; 0 when either input is constant. */
export function spearman(xs: ArrayLike<number>, ys: ArrayLike<number>): number {
  checkPair('spearman', xs, ys);
  return pearson(averageRanks(xs), averageRanks(ys));
}

/** Mean squared error (not ×100: it is in the label's own units). */
export function meanSquaredError(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair('meanSquaredError', predictions, labels);
  let s = 0;
  for (let i = 0; i < labels.length; i++) s += (predictions[i] - labels[i]) ** 2;
  return s / labels.length;
}

const METRIC_FNS: Record<MetricName, (p: ArrayLike<number>, l: ArrayLike<number>) => number> = {
  accuracy,
  f1,
  mcc: matthews,
  pearson,
  spearman,
};

/**
 * The task's metrics for one dev set. Classification predictions are class indices (argmax of the
 * logits); regression predictions are raw scores.
 */
export function computeMetrics(
  spec: TaskSpec,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): MetricValues {
  checkPair(`${spec.name} metrics`, predictions, labels);
  if (spec.kind === 'classification') {
    for (let i = 0; i < predictions.length; i++) {
      const p = predictions[i];
      if (!Number.isInteger(p) || p < 0 || p >= spec.numLabels) {
        throw new Error(
          `${spec.name} metrics: prediction ${i} is ${p}, expected a class index in [0, ${spec.numLabels}); pass argmax of the logits`,
        );
      }
    }
  }
  const out: MetricValues = {};
  for (const m of spec.metrics) out[m] = METRIC_FNS[m](predictions, labels);
  return out;
}

/**
 * A task's single score: the unweighted mean of its metrics, as the GLUE leaderboard scores MRPC
 * (F1, accuracy), QQP (F1, accuracy) and STS-B (Pearson, Spearman); a one-metric task scores its metric.
 */
export function taskScore(metrics: MetricValues): number {
  const values = Object.values(metrics).filter((v): v is number => v !== undefined);
  if (values.length === 0) throw new Error('taskScore: no metric values; pass the output of computeMetrics');
  return mean(values);
}

/**
 * Score of a task with several dev sets (MNLI: matched and mismatched). The paper's table and the
 * leaderboard print MNLI-m and MNLI-mm separately; for the GLUE average the leaderboard counts MNLI
 * once, as the mean of the two, which is what this returns. Report the per-set scores alongside.
 */
export function multiDevScore(perDevSet: Record<string, MetricValues>): number {
  const scores = Object.values(perDevSet).map(taskScore);
  if (scores.length === 0) throw new Error('multiDevScore: no dev sets; pass one metrics record per dev set');
  return mean(scores);
}

/** GLUE score: the unweighted mean of the task scores (one per task, MNLI counted once). */
export function glueScore(taskScores: Record<string, number> | number[]): number {
  const values = Array.isArray(taskScores) ? taskScores : Object.values(taskScores);
  if (values.length === 0) throw new Error('glueScore: no task scores; pass one score per task');
  return mean(values);
}

/**
 * Score of the best trivial predictor on a dev set. Classification: the constant class that scores
 * best on the *training* labels with the task's own metrics (ties → the lower index), which is the
 * majority class unless a metric rewards predicting the minority: on a balanced binary task scored
 * by F1 and accuracy, always answering "positive" scores 58.3 and the majority-by-tie class 25, so a
 * fine-tuned model that learned nothing would seem to beat a majority baseline. Regression: the mean
 * training score; its Pearson/Spearman are 0 (constant predictor), so `mse` is the number to
 * compare with. The dev labels are only scored, never used to choose.
 */
export function constantBaseline(
  spec: TaskSpec,
  trainLabels: ArrayLike<number>,
  devLabels: ArrayLike<number>,
): Baseline {
  if (trainLabels.length === 0)
    throw new Error(`${spec.name} baseline: empty training set; a baseline needs training labels`);
  let prediction: number;
  let predictor: Baseline['predictor'] = 'mean';
  if (spec.kind === 'classification') {
    const counts = new Array<number>(spec.numLabels).fill(0);
    for (let i = 0; i < trainLabels.length; i++) counts[trainLabels[i]]++;
    const majority = counts.indexOf(Math.max(...counts));
    const onTrain = counts.map((_, c) =>
      taskScore(computeMetrics(spec, new Array<number>(trainLabels.length).fill(c), trainLabels)),
    );
    prediction = majority;
    for (let c = 0; c < spec.numLabels; c++) if (onTrain[c] > onTrain[prediction]) prediction = c;
    predictor = prediction === majority ? 'majority' : 'constant';
  } else {
    prediction = mean(trainLabels);
  }
  const predictions = new Array<number>(devLabels.length).fill(prediction);
  const metrics = computeMetrics(spec, predictions, devLabels);
  const base: Baseline = {
    predictor,
    prediction,
    metrics,
    score: taskScore(metrics),
  };
  if (spec.kind === 'regression') base.mse = meanSquaredError(predictions, devLabels);
  return base;
}
