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
 * Dense layers (with their GELU), attention, LayerNorm, GELU, dropout, the attention softmax and
 * the MLM cross-entropy run as one fused kernel each (forward and backward) where the backend has
 * them (src/backend/fused.ts: wasm with the native addon), and as the same formula in tfjs ops
 * elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { AttentionAttrs, DenseActivation, FUSED, hasFused, runFused } from '../backend/fused';

/**
 * x @ W + b over the last axis of x ([..., in] → [..., out]), then the activation (BERT's exact
 * GELU, or none); W is stored [in, out].
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, activation: DenseActivation = 'linear'): tf.Tensor {
  const inDim = x.shape[x.rank - 1] as number;
  const outDim = w.shape[1] as number;
  const lead = x.shape.slice(0, -1);
  // 2-D inputs go as they are: every reshape is one more kernel call and tape entry per step.
  const x2 = (x.rank === 2 ? x : x.reshape([-1, inDim])) as tf.Tensor2D;
  const y = hasFused(FUSED.dense) ? fusedDense(x2, w, b, activation) : composedDense(x2, w, b, activation);
  return x.rank === 2 ? y : y.reshape([...lead, outDim]);
}

function composedDense(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation: DenseActivation): tf.Tensor {
  const z = tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b });
  return activation === 'gelu' ? gelu(z) : z;
}

/** One kernel forward (product, bias and GELU per tile), one backward (the three gradients). */
function fusedDense(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation: DenseActivation): tf.Tensor {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, ww, bb, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, z] = runFused(FUSED.dense, { x: xx, w: ww, b: bb }, { activation });
    save(z ? [xx, ww, z] : [xx, ww]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        runFused(FUSED.denseGrad, { dy, x: saved[0], w: saved[1], ...(saved[2] ? { z: saved[2] } : {}) }),
    };
  });
  return f(x, w, b);
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
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.scatterND(saved[0].reshape([-1, 1]), dy, [rows, dim]),
        tf.zerosLike(saved[0]),
      ],
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

/**
 * Multi-head self-attention on the projections q, k, v [B·S, H] (heads side by side in the columns),
 * bias [B, S] (0 where attended, −10000 at padding): per head, softmax(scale·q·kᵀ + bias), dropout
 * (rate, seed) on the probabilities, times v; the heads' outputs side by side again, [B·S, H].
 */
export function attention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  bias: tf.Tensor2D,
  a: AttentionAttrs,
): tf.Tensor2D {
  if (hasFused(FUSED.attention)) return fusedAttention(q, k, v, bias, a);
  const [B, S] = bias.shape;
  const H = q.shape[1];
  const dh = H / a.heads;
  // [B·S, H] → [B, heads, S, dh]: every transpose stays 4-D (5-D transposes are slow on wasm).
  const split = (t: tf.Tensor2D): tf.Tensor4D => t.reshape([B, S, a.heads, dh]).transpose([0, 2, 1, 3]);
  const scores = tf.matMul(split(q), split(k), false, true) as tf.Tensor4D; // q·kᵀ [B, heads, S, S]
  const probs = dropout(maskedSoftmax(scores, bias, a.scale), a.rate, a.seed);
  return tf
    .matMul(probs, split(v))
    .transpose([0, 2, 1, 3])
    .reshape([B * S, H]) as tf.Tensor2D;
}

/** One kernel per direction, one task per (batch, head); the probabilities are kept for the gradient. */
function fusedAttention(
  q: tf.Tensor2D,
  k: tf.Tensor2D,
  v: tf.Tensor2D,
  bias: tf.Tensor2D,
  a: AttentionAttrs,
): tf.Tensor2D {
  const attrs = { ...a };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [qq, kk, vv, bb, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [ctx, probs] = runFused(FUSED.attention, { q: qq, k: kk, v: vv, bias: bb }, attrs);
    save([qq, kk, vv, probs]);
    return {
      value: ctx,
      gradFunc: (dctx: tf.Tensor, saved: tf.Tensor[]) => {
        const [dq, dk, dv] = runFused(
          FUSED.attentionGrad,
          { dctx, q: saved[0], k: saved[1], v: saved[2], probs: saved[3] },
          attrs,
        );
        // The bias is the padding mask, a constant: no gradient flows into it.
        return [dq, dk, dv, tf.zeros(bias.shape)];
      },
    };
  });
  return f(q, k, v, bias) as tf.Tensor2D;
}

/** Mean cross-entropy of integer labels [N] under logits [N, C]. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  if (hasFused(FUSED.softmaxXent)) {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [lg, lb, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const [loss, lse] = runFused(FUSED.softmaxXent, { logits: lg, labels: lb });
      save([lg, lb, lse]);
      return {
        value: loss,
        // The probabilities are recomputed from the logits and log Σ exp in the same pass that writes the gradient.
        gradFunc: (dloss: tf.Tensor, saved: tf.Tensor[]) => [
          runFused(FUSED.softmaxXentGrad, { logits: saved[0], labels: saved[1], lse: saved[2], dloss })[0],
          tf.zeros(saved[1].shape),
        ],
      };
    });
    return f(logits, labels) as tf.Scalar;
  }
  const logp = tf.logSoftmax(logits);
  const onehot = tf.oneHot(labels, logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(logp, onehot), -1))) as tf.Scalar;
}

/**
 * A residual connection with its branch rescaled: x + r/p (PLD divides each kept block's branches
 * by the block's keep probability p). One kernel where the backend has it; the gradient is dy for
 * x and dy/p for r, the same kernel without x.
 */
export function residual(x: tf.Tensor, r: tf.Tensor, p: number): tf.Tensor {
  if (p === 1) return tf.add(x, r);
  if (hasFused(FUSED.residual)) return runFused(FUSED.residual, { x, r }, { divisor: p })[0];
  return tf.add(x, tf.div(r, p));
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
  if (hasFused(FUSED.maskedSoftmax))
    return runFused(FUSED.maskedSoftmax, { scores, bias }, { scale })[0] as tf.Tensor4D;
  const [B, , , S] = scores.shape;
  return tf.softmax(tf.add(tf.mul(scores, scale), bias.reshape([B, 1, 1, S]))) as tf.Tensor4D;
}
