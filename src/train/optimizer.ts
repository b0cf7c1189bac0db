/**
 * AdamW (Loshchilov & Hutter, decoupled weight decay) with state keyed by parameter *name*.
 *
 * tfjs's own Adam keys its moments by the position of a variable in the gradient map, so a step
 * that omits the dropped blocks' variables would update the wrong moments. Here every parameter
 * has its own (m, v, step); a parameter without a gradient in a step is not touched at all — its
 * weights, moments and step count stay as they are, as PyTorch's AdamW does for `grad is None`.
 * The update follows torch.optim.AdamW:
 *   θ ← θ·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED, hasFused, runFused } from '../backend/fused';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** λ: decoupled weight decay (paper/BERT: 0.01), applied only to names in `decay`. */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };

export interface MomentState {
  m: tf.Variable;
  v: tf.Variable;
  /** Updates this parameter has received (its own t in the bias corrections). */
  step: number;
}

export class AdamW {
  readonly state = new Map<string, MomentState>();

  constructor(
    readonly config: AdamWConfig,
    /** Parameter names that get weight decay. */
    private readonly decay: Set<string>,
  ) {}

  /**
   * Applies one update to the parameters named in `grads`. `gradScale` multiplies every gradient
   * first (global-norm clipping). Parameters absent from `grads` are left exactly as they are.
   */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    for (const name of grads.keys())
      if (!params.has(name)) throw new Error(`optimizer got a gradient for unknown parameter ${name}`);
    const updates = [...grads].map(([name, g]) => {
      const p = params.get(name) as tf.Variable;
      const s = this.moments(name, p);
      s.step += 1;
      return {
        p,
        s,
        g,
        bc1: 1 - Math.pow(beta1, s.step),
        bc2: 1 - Math.pow(beta2, s.step),
        wd: this.decay.has(name) ? weightDecay : 0,
      };
    });
    let rest = updates;
    if (hasFused(FUSED.adamwInPlace) && updates.length > 0) {
      // One pass over every parameter, written in place (src/backend/fused.ts); the few whose
      // buffers are shared come back for the update below.
      const inputs: tf.NamedTensorMap = {};
      updates.forEach((u, i) =>
        Object.assign(inputs, { [`p${i}`]: u.p, [`m${i}`]: u.s.m, [`v${i}`]: u.s.v, [`g${i}`]: u.g }),
      );
      const perTensor = updates.flatMap((u) => [u.wd, u.bc1, u.bc2]);
      const [flags] = runFused(FUSED.adamwInPlace, inputs, { lr, beta1, beta2, eps, gradScale, perTensor });
      const updated = flags.dataSync();
      flags.dispose();
      rest = updates.filter((_, i) => updated[i] === 0);
    }
    for (const { p, s, g: g0, bc1, bc2, wd } of rest) {
      if (hasFused(FUSED.adamw)) {
        // One pass over p, m, v and g (src/backend/fused.ts) instead of a dozen kernels.
        const [p1, m1, v1] = runFused(
          FUSED.adamw,
          { p, m: s.m, v: s.v, g: g0 },
          { lr, beta1, beta2, eps, weightDecay: wd, bc1, bc2, gradScale },
        );
        s.m.assign(m1);
        s.v.assign(v1);
        p.assign(p1);
        tf.dispose([p1, m1, v1]);
        continue;
      }
      tf.tidy(() => {
        const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale);
        const m = tf.add(tf.mul(s.m, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(s.v, beta2), tf.mul(tf.square(g), 1 - beta2));
        s.m.assign(m);
        s.v.assign(v);
        const update = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), eps));
        const decayed = wd === 0 ? p : tf.mul(p, 1 - lr * wd);
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    }
  }

  private moments(name: string, p: tf.Variable): MomentState {
    let s = this.state.get(name);
    if (!s) {
      const zeros = (): tf.Variable => {
        const z = tf.zeros(p.shape);
        const v = tf.variable(z, false);
        z.dispose(); // the variable keeps its own reference
        return v;
      };
      s = { m: zeros(), v: zeros(), step: 0 };
      this.state.set(name, s);
    }
    return s;
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
