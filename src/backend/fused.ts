/**
 * Fused kernels: one pass over memory for a formula tfjs would run as a dozen kernels. This
 * file is their contract — names, inputs, outputs, attributes — and their gradients. A backend
 * that registers them (wasm with the kit's native addon: wasm-kernels.ts) runs them; everywhere
 * else src/model/ops.ts, src/train/optimizer.ts and src/train/step.ts run the same formula as
 * composed tfjs ops, and the tests check that both agree. DeepSpeed fuses the same operations for
 * the same reason (its transformer kernels: LayerNorm, GELU, softmax, dropout; FusedAdam).
 *
 *   layerNorm      {x [..., C], gamma [C], beta [C]} {eps}     → [y, mean [rows], rstd [rows]]
 *   layerNormGrad  {dy, x, gamma, mean, rstd}                   → [dx, dgamma, dbeta]
 *   gelu           {x}                                          → y = x·Φ(x)
 *   geluGrad       {x, dy}                                      → dx
 *   dropout        {x} {rate, seed}                             → x·mask/(1 − rate); the mask is a
 *                  pure function of (seed, element index), so the gradient is the same kernel on dy
 *   maskedSoftmax  {scores [B, heads, S, S], bias [B, S]} {scale} → softmax(scale·scores + bias)
 *   softmaxGrad    {y, dy} {scale}                              → scale·y·(dy − Σ dy·y)
 *   adamw          {p, m, v, g} {lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale} → [p, m, v]
 *   dense          {x [rows, in], w [in, out], b [out]} {activation: 'linear' | 'gelu'}
 *                  → linear: [y = x·w + b]; gelu: [y = GELU(z), z = x·w + b]
 *   denseGrad      {dy, x, w, z?} (z: through GELU)             → [dx, dw, db]
 *   attention      {q, k, v [B·S, H], bias [B, S]} {heads, scale, rate, seed}
 *                  → [ctx [B·S, H], probs [B, heads, S, S]]: per (batch, head), probs =
 *                  softmax(scale·q·kᵀ + bias), ctx = dropout(probs)·v with dropout's mask over probs
 *   attentionGrad  {dctx, q, k, v, probs} {heads, scale, rate, seed} → [dq, dk, dv]
 *   softmaxXent    {logits [N, C], labels [N] int32}            → [loss [] (mean), lse [N]]
 *   softmaxXentGrad {logits, labels, lse, dloss []}             → dlogits = dloss·(softmax − onehot)/N
 *   adamwInPlace   {p0, m0, v0, g0, p1, …} {lr, beta1, beta2, eps, gradScale, perTensor: [wd, bc1,
 *                  bc2 per tensor]} → [updated [n] int32]: adamw over every tensor in one call,
 *                  written over p, m and v; a tensor whose buffers another tensor shares is left
 *                  alone (updated = 0) for the caller to update out of place
 *   sumSquares     {x0, x1, …}                                  → [n]: Σ xᵢ² of each input
 *   residual       {x?, r} {divisor}                            → x + r/divisor (r/divisor without x)
 *
 * A backend registers each forward kernel together with its gradient kernel (dense with denseGrad,
 * attention with attentionGrad, softmaxXent with softmaxXentGrad, layerNorm with layerNormGrad, …):
 * ops.ts checks for the forward one only. adamwInPlace may be left out (the optimizer then runs adamw,
 * or the composed update, per tensor).
 *
 * dense, attention and softmaxXent save more than they return (z, probs, lse): ops.ts wires their
 * gradients with tf.customGrad, which keeps those tensors without giving them a gradient (tfjs
 * would pass a zero-filled one for every unused output of a registered kernel).
 */
import * as tf from '@tensorflow/tfjs';

export const FUSED = {
  layerNorm: 'PldLayerNorm',
  layerNormGrad: 'PldLayerNormGrad',
  gelu: 'PldGelu',
  geluGrad: 'PldGeluGrad',
  dropout: 'PldDropout',
  maskedSoftmax: 'PldMaskedSoftmax',
  softmaxGrad: 'PldSoftmaxGrad',
  adamw: 'PldAdamW',
  dense: 'PldDense',
  denseGrad: 'PldDenseGrad',
  attention: 'PldAttention',
  attentionGrad: 'PldAttentionGrad',
  softmaxXent: 'PldSoftmaxXent',
  softmaxXentGrad: 'PldSoftmaxXentGrad',
  adamwInPlace: 'PldAdamWInPlace',
  sumSquares: 'PldSumSquares',
  residual: 'PldResidual',
} as const;

export type DenseActivation = 'linear' | 'gelu';

export interface AttentionAttrs {
  heads: number;
  /** Multiplies q·kᵀ (1/√(head size)). */
  scale: number;
  /** Dropout rate on the probabilities (0: none). */
  rate: number;
  seed: number;
}

export interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Bias corrections 1 − β1ᵗ and 1 − β2ᵗ. */
  bc1: number;
  bc2: number;
  /** Multiplies the gradient first (global-norm clipping). */
  gradScale: number;
}

/** True when the active backend has this fused kernel. */
export function hasFused(kernel: string): boolean {
  return tf.getKernel(kernel, tf.getBackend()) !== undefined;
}

/** Runs a fused kernel; its outputs as an array. */
export function runFused(kernel: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(kernel, inputs, attrs);
  return Array.isArray(out) ? out : [out];
}

// Gradients. Each computes all of its kernel's outputs at once, outside the per-input closures:
// tfjs runs each closure in its own tidy, which would dispose the others' results.
tf.registerGradient({
  kernelName: FUSED.layerNorm,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved) => {
    const [x, gamma, mean, rstd] = saved;
    const [dx, dgamma, dbeta] = runFused(FUSED.layerNormGrad, {
      dy: Array.isArray(dy) ? dy[0] : dy,
      x,
      gamma,
      mean,
      rstd,
    });
    return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
  },
});

tf.registerGradient({
  kernelName: FUSED.gelu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => runFused(FUSED.geluGrad, { x: saved[0], dy: dy as tf.Tensor })[0] }),
});

tf.registerGradient({
  kernelName: FUSED.dropout,
  gradFunc: (dy, _saved, attrs) => ({ x: () => runFused(FUSED.dropout, { x: dy as tf.Tensor }, attrs)[0] }),
});

tf.registerGradient({
  kernelName: FUSED.maskedSoftmax,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => ({
    scores: () => runFused(FUSED.softmaxGrad, { y: saved[0], dy: dy as tf.Tensor }, { scale: attrs.scale })[0],
    // The bias is the padding mask, a constant: no gradient flows into it.
    bias: () => tf.zeros(saved[0].shape.slice(0, 1).concat(saved[0].shape.slice(-1))),
  }),
});

tf.registerGradient({
  kernelName: FUSED.residual,
  gradFunc: (dy, _saved, attrs) => ({
    x: () => dy as tf.Tensor,
    r: () => runFused(FUSED.residual, { r: dy as tf.Tensor }, attrs)[0],
  }),
});
