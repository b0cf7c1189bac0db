/**
 * The few tensor ops the model needs beyond tfjs's own, written so that their *gradients* run
 * fast and at all on every tfjs backend. Each fix lives here once, for everyone:
 *
 *  - `gatherRows`: tf.gather's gradient needs the UnsortedSegmentSum kernel, which wasm lacks;
 *    ScatterNd (which sums duplicate indices) computes the same gradient and exists everywhere.
 *
 * Matrix products are plain tf.matMul / tf.fused.matMul: the wasm backend's slow transposed and
 * batched products are fixed once in its kernels (src/backend/wasm-kernels.ts).
 *
 * LayerNorm, GELU, dropout and the attention softmax run as one fused kernel each (forward and
 * backward) where the backend has them (src/backend/fused.ts: wasm with the native addon), and
 * as the same formula in tfjs ops elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED, hasFused, runFused } from '../backend/fused';

/** x @ W + b over the last axis of x ([..., in] → [..., out]); W is stored [in, out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1] as number;
  const outDim = w.shape[1] as number;
  const lead = x.shape.slice(0, -1);
  const y = tf.fused.matMul({ a: x.reshape([-1, inDim]) as tf.Tensor2D, b: w as tf.Tensor2D, bias: b });
  return y.reshape([...lead, outDim]);
}

/**
 * rows of `table` at `indices` ([N] int32) → [N, dim]. Used for embedding lookups and for picking
 * the masked positions out of the encoder output. Gradient: ScatterNd, which sums the rows of dY
 * that hit the same index (repeated tokens), exactly what gather's gradient does.
 */
export function gatherRows(table: tf.Tensor2D, indices: tf.Tensor1D): tf.Tensor2D {
  const [rows, dim] = table.shape;
  // `indices` goes in as an input and is saved: a tensor only captured by the closure would be
  // disposed with the forward pass's intermediates before the gradient runs.
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, idx, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.scatterND(saved[0].reshape([-1, 1]), dy, [rows, dim]), tf.zerosLike(saved[0])],
    };
  });
  return f(table, indices) as tf.Tensor2D;
}

/** LayerNorm over the last axis: γ·(x − μ)/√(σ² + ε) + β. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  if (hasFused(FUSED.layerNorm)) return runFused(FUSED.layerNorm, { x, gamma, beta }, { eps })[0];
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** BERT's exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (hasFused(FUSED.gelu)) return runFused(FUSED.gelu, { x })[0];
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/**
 * Inverted dropout with an explicit seed (from the run's Rng), identity when rate = 0. The fused
 * kernel draws its mask from a hash of (seed, index) and tf.dropout from tfjs's seeded generator:
 * both are reproducible from the seed, but their masks differ.
 */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate === 0) return x;
  if (hasFused(FUSED.dropout)) return runFused(FUSED.dropout, { x }, { rate, seed })[0];
  return tf.dropout(x, rate, undefined, seed);
}

/**
 * Attention probabilities softmax(scale·scores + bias) over the keys: scores [B, heads, S, S],
 * bias [B, S] (0 where attended, −10000 at padding, as BERT), broadcast over heads and queries.
 */
export function maskedSoftmax(scores: tf.Tensor4D, bias: tf.Tensor2D, scale: number): tf.Tensor4D {
  if (hasFused(FUSED.maskedSoftmax)) return runFused(FUSED.maskedSoftmax, { scores, bias }, { scale })[0] as tf.Tensor4D;
  const [B, , , S] = scores.shape;
  return tf.softmax(tf.add(tf.mul(scores, scale), bias.reshape([B, 1, 1, S]))) as tf.Tensor4D;
}
