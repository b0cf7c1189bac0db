/**
 * One optimizer step: forward → loss → gradients of the blocks that ran → global-norm clipping →
 * AdamW. Reports the loss, the gradient norm and each block's gradient L2 norm (the paper's
 * Figure 1 plots these), reading everything back from the device in a single asynchronous transfer (WebGPU has no
 * synchronous read-back, and an async one lets the other backends overlap it too).
 */
import * as tf from '@tensorflow/tfjs';
import { Bert, blockIndex, blockPrefix } from '../model/bert';
import { AdamW } from './optimizer';
import { backendFault, explainBackendError } from '../backend';
import { FUSED, hasFused, runFused } from '../backend/fused';

export interface StepOptions {
  /** Optimizer step index (0-based), for error messages. */
  step: number;
  lr: number;
  /** Global gradient-norm clip (paper: 1.0); Infinity disables. */
  clipNorm: number;
}

export interface StepResult {
  loss: number;
  /** Global L2 norm of the gradient before clipping. */
  gradNorm: number;
  /** L2 norm of each block's gradient before clipping; null for a block that did not run. */
  blockGradNorms: (number | null)[];
}

export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    what: string,
  ) {
    super(
      `non-finite ${what} at step ${step}; training stopped (lower the learning rate or raise warmup; the last good checkpoint is kept)`,
    );
    this.name = 'NonFiniteError';
  }
}

/**
 * Runs one step. `lossFn` builds the scalar loss from the model (its ops are recorded for the
 * gradient); `active` lists the parameters it uses — the dropped blocks' names are absent, so
 * they get no gradient and AdamW leaves them and their moments alone.
 */
export async function trainStep(
  model: Bert,
  opt: AdamW,
  lossFn: () => tf.Scalar,
  active: string[],
  o: StepOptions,
): Promise<StepResult> {
  try {
    return await runStep(model, opt, lossFn, active, o);
  } catch (e) {
    throw explainBackendError(e);
  }
}

async function runStep(
  model: Bert,
  opt: AdamW,
  lossFn: () => tf.Scalar,
  active: string[],
  o: StepOptions,
): Promise<StepResult> {
  const byVarName = new Map<string, string>();
  const vars = active.map((name) => {
    const v = model.params.get(name);
    if (!v) throw new Error(`trainStep: model has no parameter ${name}`);
    byVarName.set(v.name, name);
    return v;
  });
  const { value, grads } = tf.variableGrads(lossFn, vars);
  const named = new Map<string, tf.Tensor>();
  for (const [varName, g] of Object.entries(grads)) named.set(byVarName.get(varName) ?? varName, g);

  const L = model.config.layers;
  // Squared norms: [loss, total, block 0 … block L−1], one readback.
  const fusedNorms = hasFused(FUSED.sumSquares);
  const stats = tf.tidy(() => {
    if (fusedNorms) {
      // One kernel for every gradient's Σg²; the per-block and total sums are taken below.
      const inputs: tf.NamedTensorMap = {};
      [...named.values()].forEach((g, i) => (inputs[`x${i}`] = g));
      return tf.concat([value.reshape([1]), runFused(FUSED.sumSquares, inputs)[0]]);
    }
    const blockSq: tf.Scalar[] = [];
    let total = tf.scalar(0);
    for (let i = 0; i < L; i++) blockSq.push(tf.scalar(0));
    for (const [name, g] of named) {
      const sq = tf.sum(tf.square(g)) as tf.Scalar;
      total = tf.add(total, sq);
      const b = blockIndex(name);
      if (b !== null) blockSq[b] = tf.add(blockSq[b], sq);
    }
    return tf.stack([value, total, ...blockSq]);
  });
  const raw = await stats.data();
  const s = fusedNorms ? normsByBlock(raw, [...named.keys()], L) : raw;
  stats.dispose();
  const loss = s[0];
  const gradNorm = Math.sqrt(s[1]);
  const dispose = (): void => {
    value.dispose();
    for (const g of named.values()) g.dispose();
  };
  const fault = backendFault();
  if (fault) {
    dispose();
    throw fault;
  }
  if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
    dispose();
    throw new NonFiniteError(o.step, Number.isFinite(loss) ? 'gradient norm' : `loss (${loss})`);
  }
  // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
  const scale = Math.min(1, o.clipNorm / (gradNorm + 1e-6));
  opt.apply(model.params, named, o.lr, scale);
  dispose();
  const blockGradNorms: (number | null)[] = [];
  for (let i = 0; i < L; i++) {
    const ran = active.some((n) => n.startsWith(blockPrefix(i)));
    blockGradNorms.push(ran ? Math.sqrt(s[2 + i]) : null);
  }
  return { loss, gradNorm, blockGradNorms };
}

/** [loss, Σg² of each gradient in `names` order] → [loss, total, block 0 … block L−1]. */
function normsByBlock(read: ArrayLike<number>, names: string[], layers: number): number[] {
  const out = [read[0], 0, ...new Array<number>(layers).fill(0)];
  names.forEach((name, i) => {
    out[1] += read[1 + i];
    const b = blockIndex(name);
    if (b !== null) out[2 + b] += read[1 + i];
  });
  return out;
}
