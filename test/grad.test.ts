/**
 * The wasm backend with the kit's kernels (src/backend/wasm-kernels.ts: native OpenBLAS and
 * fused kernels, or the wasm-only fixes) and the ops of src/model/ops.ts give the same numbers
 * as the pure-JS cpu backend running tfjs's own ops and gradients (relative error < 1e-4 on
 * random inputs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend, BackendName } from '../src/backend';
import { gatherRows } from '../src/model/ops';
import { Rng } from '../src/util/rng';
import { LossAndGrads, assertSameLossAndGrads, maxRelErr, randn, tinyLossAndGrads } from './helpers';

async function on<T>(backend: BackendName, f: () => T, native?: boolean): Promise<T> {
  await initBackend({ backend, threads: 1, native });
  return f();
}

const ARR = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

const WASM_PATHS = [
  { label: 'wasm + native kernels', native: true },
  { label: 'wasm kernels only', native: false },
] as const;

test('tf.matMul and tf.fused.matMul on wasm (transposed, batched, broadcast) and their gradients equal the cpu backend', async () => {
  // Broadcast batches: forward only (tfjs-core's BatchMatMul gradient does not reduce a broadcast operand).
  const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean; bias?: boolean; noGrad?: boolean }[] = [
    { a: [7, 5], b: [5, 3], ta: false, tb: false },
    { a: [5, 7], b: [3, 5], ta: true, tb: true },
    { a: [2, 3, 6, 4], b: [2, 3, 5, 4], ta: false, tb: true },
    { a: [2, 3, 4, 6], b: [2, 3, 4, 5], ta: true, tb: false },
    { a: [2, 3, 6, 4], b: [4, 5], ta: false, tb: false, noGrad: true },
    { a: [6, 4], b: [3, 5, 4], ta: false, tb: true, noGrad: true },
    { a: [9, 6], b: [6, 4], ta: false, tb: false, bias: true },
    { a: [9, 6], b: [4, 6], ta: false, tb: true, bias: true },
  ];
  for (const c of cases) {
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const rng = new Rng(1);
        const a = randn(rng, c.a);
        const b = randn(rng, c.b);
        const bias = randn(rng, [c.tb ? c.b[c.b.length - 2] : c.b[c.b.length - 1]]);
        const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor): tf.Tensor =>
          c.bias
            ? tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, transposeA: c.ta, transposeB: c.tb, bias: z })
            : tf.add(tf.matMul(x, y, c.ta, c.tb), tf.mul(tf.sum(z), 0));
        const y0 = f(a, b, bias);
        const w = randn(rng, y0.shape);
        if (c.noGrad) return [ARR(y0)];
        const grads = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(f(x, y, z), w)))([
          a,
          b,
          bias,
        ]);
        return [ARR(y0), ...grads.map(ARR)];
      });
    const want = await on('cpu', run);
    for (const p of WASM_PATHS) {
      await initBackend({ backend: 'wasm', threads: 1, native: p.native });
      const got = run();
      for (let i = 0; i < want.length; i++) {
        const e = maxRelErr(got[i], want[i]);
        assert.ok(e < 1e-5, `${p.label}: ${JSON.stringify(c)} output ${i}: rel err ${e}`);
      }
    }
  }
});

test('gatherRows gradient (ScatterNd) equals tf.gather gradient, repeated indices summed', async () => {
  const idx = [3, 1, 3, 0, 3, 7, 1];
  const run = (mine: boolean): Float32Array =>
    tf.tidy(() => {
      const rng = new Rng(2);
      const table = randn(rng, [8, 5]) as tf.Tensor2D;
      const w = randn(rng, [idx.length, 5]);
      const ids = tf.tensor1d(idx, 'int32');
      const f = (t: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(mine ? gatherRows(t as tf.Tensor2D, ids) : tf.gather(t, ids), w));
      return ARR(tf.grad(f)(table));
    });
  const want = await on('cpu', () => run(false));
  const got = await on('wasm', () => run(true));
  assert.ok(maxRelErr(got, want) < 1e-5, `${maxRelErr(got, want)}`);
  // rows never gathered get exactly zero gradient
  for (const row of [2, 4, 5, 6]) for (let k = 0; k < 5; k++) assert.equal(got[row * 5 + k], 0);
});

for (const norm of ['pre', 'post'] as const) {
  test(`${norm}LN model: MLM loss and every parameter gradient on wasm match the cpu backend`, async () => {
    const run = (): Promise<LossAndGrads> => tinyLossAndGrads(norm);
    const want = await on('cpu', run);
    for (const p of WASM_PATHS) assertSameLossAndGrads(await on('wasm', run, p.native), want, p.label);
  });
}
