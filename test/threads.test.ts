/**
 * The native kernels' thread pool: PLD_THREADS sizes it, and since every kernel splits its work in
 * fixed blocks, training gives the same losses, gradient norms and weights at any thread count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { createBert, disposeBert } from '../src/model/bert';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer';
import { mlmTrainStep } from '../src/train/mlm';
import { PLD_DEFAULT, sampleGates } from '../src/schedule';
import { Rng } from '../src/util/rng';
import { randomBatch, tinyConfig } from './helpers';

/** Losses, gradient norms and a checksum of the weights after `steps` PLD steps with dropout. */
async function train(threads: number, steps: number): Promise<number[]> {
  await initBackend({ backend: 'wasm', threads, native: true });
  // Sizes past one block of every kernel: 2·70 = 140 rows (3 row blocks), products of several tiles.
  const config = tinyConfig({
    hidden: 96,
    heads: 3,
    intermediate: 200,
    vocabSize: 300,
    maxPositions: 70,
    layers: 3,
    hiddenDropout: 0.1,
    attentionDropout: 0.1,
  });
  const rng = new Rng(11);
  const model = createBert(config, rng);
  const opt = new AdamW(ADAMW_DEFAULTS, model.decay);
  const batch = randomBatch(rng, config, 2, 70, 5);
  const out: number[] = [];
  for (let t = 0; t < steps; t++) {
    const gates = sampleGates({ ...PLD_DEFAULT, thetaBar: 0.5, gamma: 1 }, config.layers, t, rng);
    const r = await mlmTrainStep(model, opt, batch, { gates, rng, lr: 1e-3, clipNorm: 1, step: t });
    out.push(r.loss, r.gradNorm);
  }
  out.push(...[...model.params.values()].map((v) => tf.tidy(() => tf.sum(tf.abs(v)).dataSync()[0])));
  opt.dispose();
  disposeBert(model);
  return out;
}

test('training with dropout and PLD gives bit-identical losses, gradient norms and weights at 1, 2 and 3 threads', async () => {
  const one = await train(1, 4);
  for (const threads of [2, 3]) assert.deepEqual(await train(threads, 4), one, `${threads} threads differ from 1`);
  assert.ok(one.every(Number.isFinite));
});

test("PLD_THREADS sizes the native kernels' pool; a bad value is one clear error", () => {
  const script = `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'backend'))}).initBackend({ backend: 'wasm' }).then((b) => console.log(b.threads, b.native.threads))`;
  const run = (v: string): { status: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, PLD_THREADS: v },
    });
    return { status: r.status, out: r.stdout.trim(), err: r.stderr };
  };
  assert.equal(run('3').out, '3 3');
  assert.equal(run('1').out, '1 1');
  const bad = run('zero');
  assert.notEqual(bad.status, 0);
  assert.match(bad.err, /PLD_THREADS must be a whole number/);
});
