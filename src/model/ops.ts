/**
 * The few tensor ops the model needs, written so that their *gradients* run fast and at all on
 * every tfjs backend. Each fix lives here once, for everyone:
 *
 *  - `matmul`: tfjs's own MatMul gradient calls matMul with transpose flags, which the wasm
 *    backend runs 10–20× slower than an explicit transpose followed by a plain matMul.
 *  - `gatherRows`: tf.gather's gradient needs the UnsortedSegmentSum kernel, which wasm lacks;
 *    ScatterNd (which sums duplicate indices) computes the same gradient and exists everywhere.
 *  - attention keeps every transpose 4-D ([batch, heads, seq, dim]); 5-D transposes are slow on wasm.
 */
import * as tf from '@tensorflow/tfjs';

/** Swap the last two axes (a 2-, 3- or 4-D transpose). */
export function transposeLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/**
 * a @ b for 2-D or batched (same leading dims) operands, with a gradient that uses explicit
 * transposes instead of matMul's transpose flags: dA = dY @ Bᵀ, dB = Aᵀ @ dY.
 */
export function matmul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  // tf.customGrad passes inputs and the save function in one rest array.
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, y, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, y]);
    return {
      value: tf.matMul(x, y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved;
        return [tf.matMul(dy, transposeLast(ys)), tf.matMul(transposeLast(xs), dy)];
      },
    };
  });
  return f(a, b);
}

/** x @ W + b over the last axis of x ([..., in] → [..., out]); W is stored [in, out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1] as number;
  const outDim = w.shape[1] as number;
  const lead = x.shape.slice(0, -1);
  const y = matmul(x.reshape([-1, inDim]), w);
  return tf.add(y, b).reshape([...lead, outDim]);
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
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** BERT's exact GELU: x·Φ(x) = 0.5·x·(1 + erf(x/√2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/** Inverted dropout with an explicit seed (from the run's Rng), identity when rate = 0. */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  return rate > 0 ? tf.dropout(x, rate, undefined, seed) : x;
}
