/**
 * The native kernels (src/backend/wasm-kernels.ts, native/src/addon.cc) against tfjs's cpu
 * backend running the composed formulas of src/model/ops.ts and src/train/optimizer.ts: values and
 * gradients, dropout's statistics, the kernel replacements' fallbacks, memory, and the addon's
 * own argument checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { FUSED, hasFused } from '../src/backend/fused';
import { loadNativeKernels } from '../src/backend/native';
import {
  attention,
  dropout,
  gelu,
  layerNorm,
  linear,
  maskedSoftmax,
  residual,
  softmaxCrossEntropy,
} from '../src/model/ops';
import { AdamW, ADAMW_DEFAULTS } from '../src/train/optimizer';
import { Rng } from '../src/util/rng';
import { maxRelErr, randn } from './helpers';

const ARR = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

/** Runs `f` on cpu (composed ops) and on wasm with the native kernels; returns both. */
async function cpuAndNative<T>(f: () => T): Promise<{ want: T; got: T }> {
  await initBackend({ backend: 'cpu' });
  const want = f();
  await initBackend({ backend: 'wasm', threads: 1, native: true });
  return { want, got: f() };
}

/**
 * Runs `f` on cpu (composed ops) and on wasm with the native kernels at 1 and 2 threads: each
 * native result within `tol` of cpu, and the two thread counts bit-identical (fixed blocks).
 */
async function acrossThreads(f: () => Float32Array[], tol: number, what: string): Promise<Float32Array[]> {
  await initBackend({ backend: 'cpu' });
  const want = f();
  const got: Float32Array[][] = [];
  for (const threads of [1, 2]) {
    await initBackend({ backend: 'wasm', threads, native: true });
    got.push(f());
    assertClose(got[got.length - 1], want, tol, `${what} at ${threads} thread(s)`);
  }
  got[1].forEach((g, i) => assert.deepEqual(g, got[0][i], `${what} output ${i}: 1 and 2 threads differ`));
  return got[1];
}

function assertClose(got: Float32Array[], want: Float32Array[], tol: number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i].length, want[i].length, `${what} output ${i}: length`);
    const e = maxRelErr(got[i], want[i]);
    assert.ok(e < tol, `${what} output ${i}: rel err ${e}`);
  }
}

test('the native path registers every fused kernel on wasm, and only there', async () => {
  await initBackend({ backend: 'wasm', threads: 1, native: true });
  for (const k of Object.values(FUSED)) assert.ok(hasFused(k), `${k} on wasm + native`);
  await initBackend({ backend: 'wasm', threads: 1, native: false });
  for (const k of Object.values(FUSED)) assert.ok(!hasFused(k), `${k} absent on wasm only`);
  await initBackend({ backend: 'cpu' });
  for (const k of Object.values(FUSED)) assert.ok(!hasFused(k), `${k} absent on cpu`);
});

test('fused LayerNorm, GELU and masked softmax: values and gradients equal the composed ops', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const rng = new Rng(3);
      const x = randn(rng, [3, 5, 24], 2);
      const gamma = randn(rng, [24]);
      const beta = randn(rng, [24]);
      const w = randn(rng, [3, 5, 24]);
      const ln = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layerNorm(a, g, b, 1e-12), w));
      const lnGrads = tf.grads(ln)([x, gamma, beta]);
      const gx = randn(rng, [4, 33], 3);
      const gw = randn(rng, [4, 33]);
      const geluGrad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), gw)))(gx);
      // Attention scores with padding: the last 2 keys of batch 1 are masked out.
      const scores = randn(rng, [2, 3, 6, 6], 4) as tf.Tensor4D;
      const bias = tf.tensor2d([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -10000, -10000], [2, 6]);
      const sw = randn(rng, [2, 3, 6, 6]);
      const sm = (s: tf.Tensor): tf.Scalar => tf.sum(tf.mul(maskedSoftmax(s as tf.Tensor4D, bias, 0.35), sw));
      const smGrad = tf.grad(sm)(scores);
      return [
        ARR(layerNorm(x, gamma, beta, 1e-12)),
        ...lnGrads.map(ARR),
        ARR(gelu(gx)),
        ARR(geluGrad),
        ARR(maskedSoftmax(scores, bias, 0.35)),
        ARR(smGrad),
      ];
    });
  const { want, got } = await cpuAndNative(run);
  assertClose(got, want, 2e-5, 'fused ops');
  // Padded keys get probability exactly 0, as with tfjs's exp: a subnormal there would slow
  // every later matrix product down (OpenBLAS on subnormal operands, ~5× for a whole step).
  const probs = got[6];
  for (let q = 0; q < 18; q++) for (const key of [4, 5]) assert.equal(probs[108 + q * 6 + key], 0);
});

/** erf in double precision (Numerical Recipes' erfc, fractional error < 1.2e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const c = [
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223,
    0.17087277,
  ];
  let p = 0;
  for (let i = c.length - 1; i >= 1; i--) p = t * (c[i] + p);
  const y = 1 - t * Math.exp(-x * x + c[0] + p);
  return x >= 0 ? y : -y;
}

test('native GELU and its gradient are within 2e-6 of double precision over [-8, 8]', () => {
  const nat = loadNativeKernels();
  assert.ok(nat.ok, nat.ok ? '' : nat.why);
  const n = 40_001;
  const x = Float32Array.from({ length: n }, (_, i) => -8 + (16 * i) / (n - 1));
  const y = new Float32Array(n);
  const dx = new Float32Array(n);
  nat.kernels.gelu(x, y);
  nat.kernels.geluGrad(x, new Float32Array(n).fill(1), dx);
  let ey = 0;
  let eg = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const cdf = 0.5 * (1 + erf(v / Math.SQRT2));
    const grad = cdf + (v * Math.exp((-v * v) / 2)) / Math.sqrt(2 * Math.PI);
    ey = Math.max(ey, Math.abs(y[i] - v * cdf) / Math.max(1, Math.abs(v * cdf)));
    eg = Math.max(eg, Math.abs(dx[i] - grad) / Math.max(1, Math.abs(grad)));
  }
  assert.ok(ey < 2e-6, `gelu error ${ey}`);
  assert.ok(eg < 2e-6, `gelu gradient error ${eg}`);
});

test('fused AdamW over several steps, with clipping scale and decay, equals the composed update', async () => {
  const run = (): Float32Array[] => {
    const rng = new Rng(4);
    const params = new Map<string, tf.Variable>([
      ['w', tf.variable(randn(rng, [7, 5]), true, `fused-adam-w-${tf.getBackend()}`)],
      ['w.bias', tf.variable(randn(rng, [5]), true, `fused-adam-b-${tf.getBackend()}`)],
    ]);
    const opt = new AdamW({ ...ADAMW_DEFAULTS, weightDecay: 0.1 }, new Set(['w']));
    for (let t = 0; t < 4; t++) {
      const grads = new Map<string, tf.Tensor>([
        ['w', randn(rng, [7, 5])],
        ['w.bias', randn(rng, [5])],
      ]);
      // Step 2 leaves the bias out (its block dropped): it must stay exactly as it was.
      if (t === 2) grads.delete('w.bias');
      opt.apply(params, grads, 1e-2, t === 1 ? 0.4 : 1);
      tf.dispose([...grads.values()]);
    }
    const out = [...params.values()].map(ARR);
    const st = opt.state.get('w.bias');
    const stepsOfBias = st ? st.step : -1;
    opt.dispose();
    for (const v of params.values()) v.dispose();
    return [...out, Float32Array.of(stepsOfBias)];
  };
  const { want, got } = await cpuAndNative(run);
  assert.equal(got[2][0], 3, 'the bias received 3 of the 4 updates');
  assertClose(got, want, 1e-5, 'AdamW');
});

test('fused dropout: keeps 1 − rate of the elements scaled by 1/(1 − rate), reproducible, and its gradient is the same mask', async () => {
  await initBackend({ backend: 'wasm', threads: 1, native: true });
  const n = 200_000;
  const x = tf.ones([n]);
  const y = dropout(x, 0.1, 12345);
  const v = ARR(y);
  let kept = 0;
  for (const e of v) {
    if (e !== 0) {
      kept++;
      assert.ok(Math.abs(e - 1 / 0.9) < 1e-6);
    }
  }
  // Binomial(200000, 0.9): std 134 elements; 5 std.
  assert.ok(Math.abs(kept - 0.9 * n) < 5 * Math.sqrt(n * 0.09), `kept ${kept}`);
  assert.deepEqual(ARR(dropout(x, 0.1, 12345)), v, 'same seed, same mask');
  const other = ARR(dropout(x, 0.1, 54321));
  let differ = 0;
  for (let i = 0; i < n; i++) differ += (other[i] === 0) !== (v[i] === 0) ? 1 : 0;
  assert.ok(differ > 0.1 * n, `another seed gives another mask (${differ} differ)`);
  const w = tf.randomNormal([n], 0, 1, 'float32', 7);
  const g = ARR(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropout(a, 0.1, 12345), w)))(x));
  const wv = ARR(w);
  for (let i = 0; i < n; i += 101) assert.ok(Math.abs(g[i] - (v[i] === 0 ? 0 : wv[i] / 0.9)) < 1e-5, `grad at ${i}`);
  assert.equal(dropout(x, 0, 1), x, 'rate 0 is the identity');
  tf.dispose([x, y, w]);
});

test('kernel replacements: Sum, GatherV2, Add and AddN fast paths and fallbacks equal cpu; Identity shares memory without leaking', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const rng = new Rng(5);
      const x = randn(rng, [3, 4, 5]);
      const table = randn(rng, [6, 4]);
      const ids = tf.tensor1d([5, 0, 0, 3], 'int32');
      const ids2 = tf.tensor2d([1, 2, 2, 1, 0, 5], [2, 3], 'int32');
      const big = randn(rng, [40001]);
      const big2 = randn(rng, [40001]);
      return [
        tf.sum(x, 0),
        tf.sum(x, [0, 1]),
        tf.sum(x, -1),
        tf.sum(x, [1, 2], true),
        tf.sum(x, 1),
        tf.sum(x),
        tf.gather(table, ids),
        tf.gather(table, ids2),
        tf.gather(table, tf.tensor1d([1, 3], 'int32'), 1),
        // Same-shape sums on the pool (past one block), broadcasts and int32 through the package.
        tf.add(big, big2),
        tf.addN([big, big2, big]),
        tf.add(x, tf.scalar(2)),
        tf.add(x, randn(rng, [5])),
        tf.cast(tf.add(ids, ids), 'float32'),
      ].map(ARR);
    });
  const { want, got } = await cpuAndNative(run);
  assertClose(got, want, 1e-6, 'Sum/GatherV2');
  // A bad index is an error, not a read outside the table.
  const table = tf.zeros([6, 4]);
  assert.throws(
    () => tf.gather(table, tf.tensor1d([2, 6], 'int32')),
    /pld_native\.gatherRows: index 6 at position 1 is outside the table's 6 rows/,
  );
  // Identity (tfjs-core's save-for-backward clone) shares the data; disposing both frees it.
  // (tf.memory() counts bytes per tensor object; the backend's buffers are what is shared.)
  const buffers = (): number => tf.backend().numDataIds();
  const before = buffers();
  const a = tf.ones([1000]);
  const b = tf.clone(a);
  assert.equal(buffers() - before, 1, 'a clone adds no buffer');
  a.dispose();
  assert.deepEqual([...ARR(b).slice(0, 3)], [1, 1, 1], 'the clone outlives the original');
  b.dispose();
  table.dispose();
  assert.equal(buffers(), before - 1, 'both freed (and the table)');
});

test('the addon checks its arguments: wrong types and short arrays throw named errors', () => {
  const nat = loadNativeKernels();
  assert.ok(nat.ok, nat.ok ? '' : nat.why);
  const k = nat.kernels;
  const f = (n: number): Float32Array => new Float32Array(n);
  assert.throws(() => k.gemm(f(6), f(6), f(3), 1, 2, 2, 3, false, false, 0, 0, null), {
    name: 'RangeError',
    message: 'pld_native.gemm: c has 3 elements, needs 4',
  });
  assert.throws(() => k.gemm(f(5), f(6), f(4), 1, 2, 2, 3, false, false, 0, 0, null), {
    name: 'RangeError',
    message: 'pld_native.gemm: a has 5 elements, needs 6',
  });
  assert.throws(() => k.gemm(f(6), f(6), f(4), 1, 2, 2, 3, false, false, 0, 0, f(3)), {
    name: 'RangeError',
    message: 'pld_native.gemm: bias must have n elements',
  });
  assert.throws(() => k.gelu(new Float64Array(4) as unknown as Float32Array, f(4)), {
    name: 'TypeError',
    message: 'pld_native.gelu: x must be a Float32Array',
  });
  assert.throws(() => k.dropout(f(4), f(4), 1, 3), {
    name: 'RangeError',
    message: 'pld_native.dropout: rate must be in [0, 1)',
  });
  assert.throws(() => k.layerNorm(f(8), f(4), f(4), f(8), f(1), f(2), 2, 4, 1e-5), {
    name: 'RangeError',
    message: 'pld_native.layerNorm: mean has 1 elements, needs 2',
  });
  assert.throws(() => (k.sum as unknown as (...a: unknown[]) => void)(f(4)), {
    name: 'RangeError',
    message: 'pld_native.sum: takes 5 arguments, got 1',
  });
  // And computes: a 2×3 · 3×2 product with bias, and its transposed-operand form.
  const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const b = Float32Array.from([1, 0, 0, 1, 1, 1]);
  const c = f(4);
  k.gemm(a, b, c, 1, 2, 2, 3, false, false, 0, 0, Float32Array.from([10, 20]));
  assert.deepEqual([...c], [14, 25, 20, 31]);
  k.gemm(Float32Array.from([1, 4, 2, 5, 3, 6]), b, c, 1, 2, 2, 3, true, false, 0, 0, null);
  assert.deepEqual([...c], [4, 5, 10, 11]);
});

test('fused dense layer, linear and with GELU, and its three gradients equal the composed ops at 1 and 2 threads (odd shapes, tiled products)', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const out: Float32Array[] = [];
      // 7·13 rows × 37 → 45: one tile; 301 × 129 → 263 (10 M multiply-adds): many tiles.
      for (const [lead, inDim, outDim] of [
        [[7, 13], 37, 45],
        [[301], 129, 263],
      ] as const) {
        const rng = new Rng(inDim);
        const x = randn(rng, [...lead, inDim]);
        const w = randn(rng, [inDim, outDim], 0.2);
        const b = randn(rng, [outDim]);
        const r = randn(rng, [...lead, outDim]);
        for (const act of ['linear', 'gelu'] as const) {
          const loss = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor): tf.Scalar =>
            tf.sum(tf.mul(linear(xx, ww, bb, act), r));
          out.push(ARR(linear(x, w, b, act)), ...tf.grads(loss)([x, w, b]).map(ARR));
        }
      }
      return out;
    });
  await acrossThreads(run, 1e-5, 'dense');
});

test('fused attention (padding, odd sizes) and its gradients for q, k and v equal the composed ops at 1 and 2 threads', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const rng = new Rng(6);
      const [B, S, H, heads] = [3, 13, 20, 4];
      const q = randn(rng, [B * S, H]) as tf.Tensor2D;
      const k = randn(rng, [B * S, H]) as tf.Tensor2D;
      const v = randn(rng, [B * S, H]) as tf.Tensor2D;
      // Batch 1 pads its last 3 keys, batch 2 its last 6.
      const bias = tf.tensor2d(
        Array.from({ length: B * S }, (_, i) => (i % S >= S - 3 * Math.floor(i / S) ? -10000 : 0)),
        [B, S],
      );
      const r = randn(rng, [B * S, H]);
      const a = { heads, scale: 1 / Math.sqrt(H / heads), rate: 0, seed: 0 };
      const loss = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor): tf.Scalar =>
        tf.sum(tf.mul(attention(qq as tf.Tensor2D, kk as tf.Tensor2D, vv as tf.Tensor2D, bias, a), r));
      return [ARR(attention(q, k, v, bias, a)), ...tf.grads(loss)([q, k, v]).map(ARR)];
    });
  await acrossThreads(run, 2e-5, 'attention');
});

test('fused attention with dropout equals the composed formula with the same dropout kernel (same mask), values and gradients', async () => {
  await initBackend({ backend: 'wasm', threads: 2, native: true });
  const rng = new Rng(7);
  const [B, S, H, heads] = [2, 9, 12, 3];
  const dh = H / heads;
  const q = randn(rng, [B * S, H]) as tf.Tensor2D;
  const k = randn(rng, [B * S, H]) as tf.Tensor2D;
  const v = randn(rng, [B * S, H]) as tf.Tensor2D;
  const bias = tf.tensor2d(
    Array.from({ length: B * S }, (_, i) => (i >= 2 * S - 2 ? -10000 : 0)),
    [B, S],
  );
  const r = randn(rng, [B * S, H]);
  const a = { heads, scale: 0.5, rate: 0.3, seed: 99 };
  // The composed formula: per-head products, maskedSoftmax and dropout over [B, heads, S, S].
  const composed = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor): tf.Tensor => {
    const split = (t: tf.Tensor): tf.Tensor4D => t.reshape([B, S, heads, dh]).transpose([0, 2, 1, 3]);
    const p = dropout(
      maskedSoftmax(tf.matMul(split(qq), split(kk), false, true) as tf.Tensor4D, bias, a.scale),
      a.rate,
      a.seed,
    );
    return tf
      .matMul(p, split(vv))
      .transpose([0, 2, 1, 3])
      .reshape([B * S, H]);
  };
  const fused = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor): tf.Tensor =>
    attention(qq as tf.Tensor2D, kk as tf.Tensor2D, vv as tf.Tensor2D, bias, a);
  const both = [composed, fused].map((f) => [
    ARR(f(q, k, v)),
    ...tf
      .grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(f(qq, kk, vv), r)))([q, k, v])
      .map(ARR),
  ]);
  assertClose(both[1], both[0], 1e-5, 'attention with dropout');
  tf.dispose([q, k, v, bias, r]);
});

test('fused softmax cross-entropy and its gradient equal the composed ops at 1 and 2 threads; a label outside the classes throws', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const rng = new Rng(8);
      const [N, C] = [137, 1001];
      const logits = randn(rng, [N, C], 3) as tf.Tensor2D;
      const labels = tf.tensor1d(
        Array.from({ length: N }, (_, i) => (i * 7919) % C),
        'int32',
      );
      const g = tf.grad((l: tf.Tensor) => tf.mul(softmaxCrossEntropy(l as tf.Tensor2D, labels), 2.5))(logits);
      return [ARR(softmaxCrossEntropy(logits, labels)), ARR(g)];
    });
  await acrossThreads(run, 1e-5, 'cross-entropy');
  const logits = tf.zeros([2, 5]) as tf.Tensor2D;
  const labels = tf.tensor1d([1, 5], 'int32');
  assert.throws(
    () => softmaxCrossEntropy(logits, labels),
    /pld_native\.softmaxXent: label 5 at position 1 is outside the 5 classes/,
  );
  tf.dispose([logits, labels]);
});

test('row-block and elementwise kernels past one block (LayerNorm and its gradient, sums, GELU, the rescaled residual) at 1 and 2 threads', async () => {
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const rng = new Rng(9);
      const x = randn(rng, [333, 19], 2);
      const gamma = randn(rng, [19]);
      const beta = randn(rng, [19]);
      const w = randn(rng, [333, 19]);
      const lnGrads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(layerNorm(a, g, b, 1e-12), w)),
      )([x, gamma, beta]);
      // PLD's rescaled residual x + r/p and its gradients.
      const resGrads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(residual(a, b, 0.7), w)))([x, w]);
      return [
        ARR(layerNorm(x, gamma, beta, 1e-12)),
        ...lnGrads.map(ARR),
        ARR(tf.sum(x, 0)),
        ARR(tf.sum(x, 1)),
        ARR(gelu(x)),
        ARR(residual(x, w, 0.7)),
        ...resGrads.map(ARR),
      ];
    });
  await acrossThreads(run, 2e-5, 'row blocks');
});

test('AdamW over all parameters in one call writes in place, but never over a buffer another tensor shares', async () => {
  await initBackend({ backend: 'wasm', threads: 2, native: true });
  const params = new Map<string, tf.Variable>([
    ['w', tf.variable(tf.ones([40000]), true, 'inplace-w')],
    ['b', tf.variable(tf.ones([3]), true, 'inplace-b')],
  ]);
  const keep = tf.clone(params.get('b') as tf.Variable); // shares b's buffer (Identity)
  const opt = new AdamW({ ...ADAMW_DEFAULTS, weightDecay: 0 }, new Set());
  const grads = new Map<string, tf.Tensor>([
    ['w', tf.ones([40000])],
    ['b', tf.ones([3])],
  ]);
  opt.apply(params, grads, 0.1);
  // First AdamW step with g = 1: m̂ = 1, v̂ = 1, p = 1 − lr·1/(1 + ε).
  const want = 1 - 0.1 / (1 + ADAMW_DEFAULTS.eps);
  for (const name of ['w', 'b'])
    for (const x of ARR(params.get(name) as tf.Variable)) assert.ok(Math.abs(x - want) < 1e-6, `${name}: ${x}`);
  assert.deepEqual([...ARR(keep)], [1, 1, 1], 'the clone keeps the old values');
  opt.dispose();
  tf.dispose([keep, ...params.values(), ...grads.values()]);
});
