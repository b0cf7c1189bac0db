import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NO_DROP,
  PLD_DEFAULT,
  ScheduleConfig,
  blockProbs,
  expectedBlocks,
  expectedFraction,
  fullDepth,
  keepProb,
  sampleGates,
  theta,
  thetaAt,
  validateSchedule,
} from '../src/schedule';
import { Rng } from '../src/util/rng';
import { close } from './helpers';

test('theta(t) matches values computed by hand', () => {
  close(theta(0, 0.5, 0.001), 1);
  // 0.5·e^{-1} + 0.5, e^{-1} = 0.36787944117
  close(theta(1000, 0.5, 0.001), 0.683939720585721);
  // 0.25·e^{-1} + 0.75
  close(theta(500, 0.75, 0.002), 0.841969860292861);
  // 0.1·e^{-0.5} + 0.9, e^{-0.5} = 0.60653065971
  close(theta(50, 0.9, 0.01), 0.960653065971263);
  close(theta(1e7, 0.5, 0.001), 0.5);
  close(theta(123, 1, 0.3), 1);
});

test('keep probability p_l = 1 − (l/L)(1 − θ) across depth', () => {
  close(keepProb(1, 12, 0.5), 1 - 0.5 / 12);
  close(keepProb(12, 12, 0.5), 0.5);
  close(keepProb(6, 12, 0.8), 0.9);
  const { sample, scale } = blockProbs(PLD_DEFAULT, 4, 0.6);
  assert.deepEqual(
    sample.map((p) => +p.toFixed(12)),
    [0.9, 0.8, 0.7, 0.6],
  );
  assert.deepEqual(
    scale.map((p) => +p.toFixed(12)),
    [0.9, 0.8, 0.7, 0.6],
  );
});

test('expected depth: paper 8.75 and DeepSpeed 9.25 blocks at θ = 0.5, L = 12', () => {
  close(expectedBlocks(PLD_DEFAULT, 12, 0.5), 8.75, 1e-12);
  const ds: ScheduleConfig = { ...PLD_DEFAULT, depth: 'deepspeed' };
  close(expectedBlocks(ds, 12, 0.5), 9.25, 1e-12);
  close(expectedFraction(PLD_DEFAULT, 12, 0.5), 8.75 / 12, 1e-12);
  close(expectedBlocks(NO_DROP, 12, thetaAt(NO_DROP, 5000)), 12);
});

test('DeepSpeed variant samples with the shallower p but rescales with the paper p', () => {
  const ds: ScheduleConfig = { ...PLD_DEFAULT, depth: 'deepspeed' };
  const { sample, scale } = blockProbs(ds, 4, 0.6);
  // block i (0-based): sample 1 − i·0.4/4, scale 1 − (i+1)·0.4/4
  assert.deepEqual(
    sample.map((p) => +p.toFixed(12)),
    [1, 0.9, 0.8, 0.7],
  );
  assert.deepEqual(
    scale.map((p) => +p.toFixed(12)),
    [0.9, 0.8, 0.7, 0.6],
  );
});

test('LayerDrop, constant θ and no-drop are configurations of the same code', () => {
  const layerDrop: ScheduleConfig = { thetaBar: 0.8, gamma: 0, depth: 'uniform', rescale: false, constantTheta: true };
  const { sample, scale } = blockProbs(layerDrop, 6, thetaAt(layerDrop, 0));
  assert.deepEqual(sample, [0.8, 0.8, 0.8, 0.8, 0.8, 0.8]);
  assert.deepEqual(scale, [1, 1, 1, 1, 1, 1]);
  const constant: ScheduleConfig = { ...PLD_DEFAULT, constantTheta: true };
  close(thetaAt(constant, 0), 0.5);
  const g = sampleGates(NO_DROP, 12, 100, new Rng(1));
  assert.ok(g.keep.every((k) => k));
  assert.ok(g.scale.every((p) => p === 1));
});

test('sampled gate frequencies match p_l (20 000 steps, tolerance 0.015 ≈ 4σ)', () => {
  const rng = new Rng(42);
  const cfg: ScheduleConfig = { ...PLD_DEFAULT, constantTheta: true };
  const L = 12;
  const n = 20000;
  const counts = new Array<number>(L).fill(0);
  for (let t = 0; t < n; t++) sampleGates(cfg, L, t, rng).keep.forEach((k, i) => (counts[i] += k ? 1 : 0));
  for (let i = 0; i < L; i++) {
    const p = keepProb(i + 1, L, 0.5);
    assert.ok(Math.abs(counts[i] / n - p) < 0.015, `block ${i + 1}: ${counts[i] / n} vs ${p}`);
  }
  const mean = counts.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(mean - 8.75) < 0.05, `mean depth ${mean}`);
});

test('gates are deterministic for a seed and start at full depth', () => {
  const a = sampleGates(PLD_DEFAULT, 12, 300, new Rng(7));
  const b = sampleGates(PLD_DEFAULT, 12, 300, new Rng(7));
  assert.deepEqual(a, b);
  const first = sampleGates(PLD_DEFAULT, 12, 0, new Rng(7));
  assert.equal(first.theta, 1);
  assert.ok(first.keep.every((k) => k));
  assert.deepEqual(fullDepth(3), { theta: 1, keep: [true, true, true], scale: [1, 1, 1] });
});

test('bad schedule parameters throw clear errors', () => {
  assert.throws(() => validateSchedule({ ...PLD_DEFAULT, thetaBar: 0 }, 12), {
    message: 'schedule thetaBar must be in (0, 1], got 0; the paper uses 0.5 to 0.9 and 1 disables dropping',
  });
  assert.throws(() => validateSchedule({ ...PLD_DEFAULT, thetaBar: 1.2 }, 12), /thetaBar must be in \(0, 1\], got 1.2/);
  assert.throws(() => validateSchedule({ ...PLD_DEFAULT, gamma: -0.1 }, 12), {
    message: "schedule gamma must be a finite number >= 0, got -0.1; DeepSpeed's default is 0.001",
  });
  assert.throws(() => validateSchedule(PLD_DEFAULT, 0), {
    message: 'number of blocks L must be an integer >= 1, got 0',
  });
  validateSchedule(PLD_DEFAULT, 12);
});
