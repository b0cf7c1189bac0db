import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  averageRanks,
  computeMetrics,
  constantBaseline,
  f1,
  glueScore,
  matthews,
  meanSquaredError,
  multiDevScore,
  pearson,
  spearman,
  taskScore,
} from '../src/tasks/metrics';
import { TaskSpec } from '../src/tasks/types';
import { close } from './helpers';

const binarySpec = (metrics: TaskSpec['metrics']): TaskSpec => ({
  name: 'T',
  kind: 'classification',
  numLabels: 2,
  labelNames: ['0', '1'],
  metrics,
  pair: false,
});
const regSpec: TaskSpec = {
  name: 'R',
  kind: 'regression',
  numLabels: 1,
  labelRange: [0, 5],
  metrics: ['pearson', 'spearman'],
  pair: true,
};

/** Expand a binary confusion matrix into (predictions, labels) arrays. */
function fromConfusion(tp: number, fp: number, fn: number, tn: number): { p: number[]; l: number[] } {
  const p: number[] = [],
    l: number[] = [];
  const add = (n: number, pi: number, li: number): void => {
    for (let i = 0; i < n; i++) {
      p.push(pi);
      l.push(li);
    }
  };
  add(tp, 1, 1);
  add(fp, 1, 0);
  add(fn, 0, 1);
  add(tn, 0, 0);
  return { p, l };
}

test('accuracy: 3 of 4 correct → 75', () => {
  close(accuracy([0, 1, 1, 0], [0, 1, 0, 0]), 75);
});

test('F1 of class 1 by hand, and 0 when there are no positives at all', () => {
  // p=[1,1,0,1,0], l=[1,0,0,1,1]: tp=2 (0,3), fp=1 (1), fn=1 (4); F1 = 2·2/(2·2+1+1) = 4/6.
  close(f1([1, 1, 0, 1, 0], [1, 0, 0, 1, 1]), 400 / 6);
  close(f1([0, 0, 0], [0, 0, 0]), 0); // 0/0 → 0 as sklearn's zero_division default
  close(f1([1, 1], [1, 1]), 100);
});

test('MCC of a known confusion matrix, multi-class MCC, and degenerate cases → 0', () => {
  // tp=6, fp=1, fn=2, tn=3: (6·3 − 1·2)/√((6+1)(6+2)(3+1)(3+2)) = 16/√1120 = 16/33.466401… = 0.4780914…
  const { p, l } = fromConfusion(6, 1, 2, 3);
  close(matthews(p, l), (100 * 16) / Math.sqrt(1120));
  close(matthews(p, l), 47.80914437, 1e-7);
  close(matthews([0, 1, 0, 1], [0, 1, 0, 1]), 100);
  close(matthews([1, 0, 1, 0], [0, 1, 0, 1]), -100);
  // Three classes: t=[0,1,2,0,1,2], p=[0,1,1,0,2,2]; s=6, correct c=4 (0,1,3,5), p_k=t_k=2 each:
  // (c·s − Σp_k t_k)/√((s² − Σp_k²)(s² − Σt_k²)) = (24 − 12)/√(24·24) = 0.5.
  close(matthews([0, 1, 1, 0, 2, 2], [0, 1, 2, 0, 1, 2]), 50);
  // Constant predictor (CoLA's majority baseline) and constant labels: denominator 0 → 0, not NaN.
  close(matthews([1, 1, 1, 1], [0, 1, 1, 0]), 0);
  close(matthews([0, 1, 1, 0], [1, 1, 1, 1]), 0);
});

test('Pearson by hand and scale invariance; constant input → 0', () => {
  // x=[1,2,3,4] (mean 2.5), y=[2,4,5,9] (mean 5): dx=[−1.5,−.5,.5,1.5], dy=[−3,−1,0,4]
  // Σdxdy = 4.5+.5+0+6 = 11, Σdx² = 5, Σdy² = 26 → r = 11/√130 = 0.9647638…
  close(pearson([1, 2, 3, 4], [2, 4, 5, 9]), (100 * 11) / Math.sqrt(130));
  close(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 96.47638, 1e-5);
  close(pearson([1, 2, 3, 4], [-2, -4, -5, -9]), -(100 * 11) / Math.sqrt(130));
  close(pearson([1001, 1002, 1003, 1004], [2e6, 4e6, 5e6, 9e6]), (100 * 11) / Math.sqrt(130), 1e-7);
  close(pearson([3, 3, 3], [1, 2, 3]), 0);
  close(pearson([1, 2, 3], [7, 7, 7]), 0);
  close(pearson([1, 2, 3], [2, 4, 6]), 100); // clamped, never 100.0000000001
});

test('average ranks for ties, and Spearman with ties by hand', () => {
  // sorted: 5→1, 10→2, 20,20,20 share ranks 3,4,5 → 4
  assert.deepEqual(Array.from(averageRanks([10, 20, 20, 20, 5])), [2, 4, 4, 4, 1]);
  // x=[1,2,2,3] → ranks [1,2.5,2.5,4]; y=[1,3,2,4] → ranks [1,3,2,4]; both rank means 2.5
  // d_x=[−1.5,0,0,1.5], d_y=[−1.5,.5,−.5,1.5]: Σd_xd_y = 4.5, Σd_x² = 4.5, Σd_y² = 5 → ρ = 4.5/√22.5 = √0.9
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 100 * Math.sqrt(0.9));
  // monotone but non-linear: Spearman 100, Pearson below
  close(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 100);
  assert.ok(pearson([1, 2, 3, 4], [1, 8, 27, 64]) < 99);
  close(spearman([2, 2, 2], [1, 2, 3]), 0);
});

test('computeMetrics returns exactly the task metrics; taskScore averages them', () => {
  const m = computeMetrics(binarySpec(['f1', 'accuracy']), [1, 1, 0, 1, 0], [1, 0, 0, 1, 1]);
  assert.deepEqual(Object.keys(m), ['f1', 'accuracy']);
  close(m.f1, 400 / 6);
  close(m.accuracy, 60); // correct at 0, 2, 3
  close(taskScore(m), (400 / 6 + 60) / 2);
  const r = computeMetrics(regSpec, [1, 2, 3, 4], [2, 4, 5, 9]);
  close(r.pearson, (100 * 11) / Math.sqrt(130));
  close(r.spearman, 100);
  close(taskScore(r), ((100 * 11) / Math.sqrt(130) + 100) / 2);
});

test('MNLI-style score averages dev sets; GLUE score averages tasks', () => {
  close(multiDevScore({ dev_matched: { accuracy: 84 }, dev_mismatched: { accuracy: 83 } }), 83.5);
  close(glueScore({ CoLA: 50, 'SST-2': 90, MNLI: 83.5 }), (50 + 90 + 83.5) / 3);
  close(glueScore([10, 20]), 15);
});

test('constant baselines: the best constant class on the training labels (majority unless F1 prefers another), and the mean predictor', () => {
  // train majority is class 1 (two of four); dev [1,0,1,1] → 3/4 correct
  const b = constantBaseline(
    { ...binarySpec(['accuracy']), numLabels: 3, labelNames: ['a', 'b', 'c'] },
    [0, 1, 1, 2],
    [1, 0, 1, 1],
  );
  assert.equal(b.predictor, 'majority');
  assert.equal(b.prediction, 1);
  close(b.metrics.accuracy, 75);
  close(b.score, 75);
  assert.equal(constantBaseline(binarySpec(['accuracy']), [1, 0, 0, 1], [0]).prediction, 0);
  // Majority on CoLA-like data: MCC 0, F1 0 when the majority is the negative class.
  close(constantBaseline(binarySpec(['mcc']), [1, 1, 0], [0, 1]).score, 0);
  // F1 alone: always predicting the minority class 1 scores F1 50 on train [0,0,1] (precision 1/3,
  // recall 1), majority 0 scores 0; so the baseline predicts 1, and on dev [0,1] scores
  // F1 2·(1/2)·1/(1/2 + 1) = 66.7.
  const f1 = constantBaseline(binarySpec(['f1']), [0, 0, 1], [0, 1]);
  assert.equal(f1.predictor, 'constant');
  assert.equal(f1.prediction, 1);
  close(f1.score, 200 / 3);
  // F1 + accuracy on balanced labels (the adjacency task): "always 1" scores (66.7 + 50)/2 = 58.3
  // on train, the tie-broken majority 0 scores (0 + 50)/2 = 25.
  const both = constantBaseline(binarySpec(['f1', 'accuracy']), [0, 1, 0, 1], [1, 0, 0, 1]);
  assert.equal(both.prediction, 1);
  close(both.score, (200 / 3 + 50) / 2);
  // Accuracy: the majority always wins.
  assert.equal(constantBaseline(binarySpec(['f1', 'accuracy']), [0, 0, 0, 1], [1]).predictor, 'majority');
  // Regression: mean of train [1,2,3] is 2; dev [1,3] → MSE ((1−2)² + (3−2)²)/2 = 1, correlations 0.
  const r = constantBaseline(regSpec, [1, 2, 3], [1, 3]);
  assert.equal(r.predictor, 'mean');
  assert.equal(r.prediction, 2);
  assert.equal(r.mse, 1);
  assert.deepEqual(r.metrics, { pearson: 0, spearman: 0 });
  assert.equal(r.score, 0);
  close(meanSquaredError([0, 0], [3, 4]), 12.5);
});

test('errors are one line and say how to fix', () => {
  assert.throws(() => accuracy([1], [1, 0]), /got 1 predictions for 2 labels; pass one prediction per example/);
  assert.throws(() => pearson([], []), /no examples/);
  assert.throws(
    () => computeMetrics(binarySpec(['accuracy']), [0.7, 1], [0, 1]),
    /prediction 0 is 0\.7, expected a class index in \[0, 2\); pass argmax/,
  );
  assert.throws(() => taskScore({}), /no metric values/);
  assert.throws(() => glueScore([]), /no task scores/);
});
