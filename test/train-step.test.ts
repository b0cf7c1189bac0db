import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { createBert, disposeBert } from '../src/model/bert';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer';
import { mlmTrainStep } from '../src/train/mlm';
import { NonFiniteError, trainStep } from '../src/train/step';
import { learningRate } from '../src/train/lr';
import { Gates, PLD_DEFAULT, fullDepth, sampleGates } from '../src/schedule';
import { Rng } from '../src/util/rng';
import { randomBatch, tinyConfig } from './helpers';

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
});

test('AdamW keyed by name: skipped parameters keep weights and moments; others match a hand-computed update', () => {
  const params = new Map<string, tf.Variable>([
    ['a', tf.variable(tf.tensor1d([1, -2]), true, 'opt-test-a')],
    ['b.bias', tf.variable(tf.tensor1d([0.5]), true, 'opt-test-b')],
  ]);
  const cfg = { ...ADAMW_DEFAULTS, eps: 1e-8, weightDecay: 0.1 };
  const opt = new AdamW(cfg, new Set(['a']));
  const lr = 0.01;
  // Hand-run reference in plain numbers.
  const ref = { a: [1, -2], b: [0.5], ma: [0, 0], va: [0, 0], mb: [0], vb: [0], ta: 0, tb: 0 };
  const upd = (p: number[], m: number[], v: number[], g: number[], t: number, wd: number): void => {
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      p[i] -= (lr * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
    }
  };
  // step 1: both; step 2: only 'a' (b's block skipped); step 3: only 'b'; step 4: both
  const plan: [number[] | null, number[] | null][] = [
    [[0.3, -0.1], [2]],
    [[0.2, 0.4], null],
    [null, [-1]],
    [[-0.5, 0.1], [0.5]],
  ];
  for (const [ga, gb] of plan) {
    const grads = new Map<string, tf.Tensor>();
    if (ga) grads.set('a', tf.tensor1d(ga));
    if (gb) grads.set('b.bias', tf.tensor1d(gb));
    opt.apply(params, grads, lr);
    tf.dispose([...grads.values()]);
    if (ga) upd(ref.a, ref.ma, ref.va, ga, ++ref.ta, 0.1);
    if (gb) upd(ref.b, ref.mb, ref.vb, gb, ++ref.tb, 0);
    const close = (t: tf.Tensor, want: number[]): void =>
      Array.from(t.dataSync()).forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `${x} vs ${want[i]}`));
    close(params.get('a') as tf.Variable, ref.a);
    close(params.get('b.bias') as tf.Variable, ref.b);
    close(opt.state.get('a')?.m as tf.Variable, ref.ma);
    close(opt.state.get('a')?.v as tf.Variable, ref.va);
    close(opt.state.get('b.bias')?.m as tf.Variable, ref.mb);
    close(opt.state.get('b.bias')?.v as tf.Variable, ref.vb);
    assert.equal(opt.state.get('a')?.step, ref.ta);
    assert.equal(opt.state.get('b.bias')?.step, ref.tb);
  }
  opt.dispose();
  tf.dispose([...params.values()]);
});

test('a dropped block gets no gradient and its weights and moments stay exactly as they were', async () => {
  const c = tinyConfig();
  const m = createBert(c, new Rng(1));
  const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
  const rng = new Rng(2);
  await mlmTrainStep(m, opt, randomBatch(rng, c, 2, 8), { gates: fullDepth(3), rng, lr: 1e-3, clipNorm: 1, step: 0 });
  const name = 'bert.encoder.layer.1.intermediate.dense.weight';
  const before = {
    w: Array.from(m.params.get(name)!.dataSync()),
    m: Array.from(opt.state.get(name)!.m.dataSync()),
    step: opt.state.get(name)!.step,
  };
  const gates: Gates = { theta: 0.6, keep: [true, false, true], scale: [0.9, 0.8, 0.6] };
  const r = await mlmTrainStep(m, opt, randomBatch(rng, c, 2, 8), { gates, rng, lr: 1e-3, clipNorm: 1, step: 1 });
  assert.equal(r.blockGradNorms[1], null);
  assert.ok((r.blockGradNorms[0] as number) > 0 && (r.blockGradNorms[2] as number) > 0);
  assert.deepEqual(Array.from(m.params.get(name)!.dataSync()), before.w);
  assert.deepEqual(Array.from(opt.state.get(name)!.m.dataSync()), before.m);
  assert.equal(opt.state.get(name)!.step, before.step);
  assert.equal(opt.state.get('bert.encoder.layer.0.intermediate.dense.weight')!.step, 2);
  opt.dispose();
  disposeBert(m);
});

test('block gradient norms and the global norm are consistent; clipping bounds the update', async () => {
  const c = tinyConfig();
  const m = createBert(c, new Rng(3));
  const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
  const rng = new Rng(4);
  const r = await mlmTrainStep(m, opt, randomBatch(rng, c, 2, 8), {
    gates: fullDepth(3),
    rng,
    lr: 1e-3,
    clipNorm: 1,
    step: 0,
  });
  const blocks = r.blockGradNorms.map((x) => (x as number) ** 2).reduce((a, b) => a + b, 0);
  assert.ok(blocks < r.gradNorm ** 2, 'blocks are a part of the whole gradient');
  assert.ok(r.gradNorm > 0 && Number.isFinite(r.loss));
  opt.dispose();
  disposeBert(m);
});

test('no tensor leaks over many steps', async () => {
  const c = tinyConfig({ hiddenDropout: 0.1, attentionDropout: 0.1 });
  const m = createBert(c, new Rng(5));
  const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
  const rng = new Rng(6);
  const step = async (t: number): Promise<void> => {
    const gates = sampleGates({ ...PLD_DEFAULT, gamma: 0.5 }, 3, t, rng);
    await mlmTrainStep(m, opt, randomBatch(rng, c, 2, 8), { gates, rng, lr: 1e-3, clipNorm: 1, step: t });
  };
  for (let t = 0; t < 5; t++) await step(t); // optimizer state for every block now exists
  const n0 = tf.memory().numTensors;
  for (let t = 5; t < 30; t++) await step(t);
  assert.equal(tf.memory().numTensors, n0);
  opt.dispose();
  disposeBert(m);
});

test('same seed, same backend: identical losses step for step; a tiny model overfits one batch', async () => {
  const run = async (): Promise<number[]> => {
    const c = tinyConfig({ hiddenDropout: 0.1, attentionDropout: 0.1 });
    const m = createBert(c, new Rng(7));
    const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
    const rng = new Rng(8);
    const batch = randomBatch(new Rng(9), c, 4, 8);
    const losses: number[] = [];
    for (let t = 0; t < 60; t++) {
      const gates = sampleGates({ ...PLD_DEFAULT, gamma: 0.05 }, 3, t, rng);
      const lr = learningRate({ peak: 1e-2, warmupSteps: 4, totalSteps: 60 }, t);
      losses.push((await mlmTrainStep(m, opt, batch, { gates, rng, lr, clipNorm: 1, step: t })).loss);
    }
    opt.dispose();
    disposeBert(m);
    return losses;
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(a, b);
  assert.ok(a[a.length - 1] < 0.5 * a[0], `loss ${a[0]} → ${a[a.length - 1]}`);
});

test('a non-finite loss stops training with an error naming the step, and nothing is updated', async () => {
  const c = tinyConfig();
  const m = createBert(c, new Rng(1));
  const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
  const w = Array.from(m.params.get('bert.embeddings.word_embeddings.weight')!.dataSync());
  const names = [...m.params.keys()];
  await assert.rejects(
    () =>
      trainStep(
        m,
        opt,
        () => tf.mul(tf.sum(m.params.get('bert.embeddings.word_embeddings.weight')!), NaN) as tf.Scalar,
        names.slice(0, 1),
        { step: 17, lr: 1e-3, clipNorm: 1 },
      ),
    (e: unknown) =>
      e instanceof NonFiniteError &&
      e.message ===
        'non-finite loss (NaN) at step 17; training stopped (lower the learning rate or raise warmup; the last good checkpoint is kept)',
  );
  assert.deepEqual(Array.from(m.params.get('bert.embeddings.word_embeddings.weight')!.dataSync()), w);
  assert.equal(opt.state.size, 0);
  opt.dispose();
  disposeBert(m);
});

test('learning rate: linear warmup then linear decay to zero', () => {
  const s = { peak: 1e-3, warmupSteps: 10, totalSteps: 110 };
  assert.equal(learningRate(s, 0), 1e-4);
  assert.equal(learningRate(s, 9), 1e-3);
  assert.ok(Math.abs(learningRate(s, 60) - 5e-4) < 1e-12);
  assert.equal(learningRate(s, 110), 0);
});
