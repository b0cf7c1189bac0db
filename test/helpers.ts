/** Shared test fixtures: a tiny model config, random batches and tensors, and tolerance checks. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ModelConfig } from '../src/model/config';
import { activeParamNames, createBert, disposeBert } from '../src/model/bert';
import { Gates } from '../src/schedule';
import { MlmBatch, mlmLoss } from '../src/train/mlm';
import { Rng } from '../src/util/rng';
import { syntheticBatch } from '../src/data/synthetic';

export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    vocabSize: 50,
    hidden: 16,
    layers: 3,
    heads: 2,
    intermediate: 32,
    maxPositions: 16,
    typeVocab: 2,
    norm: 'pre',
    hiddenDropout: 0,
    attentionDropout: 0,
    initStd: 0.2,
    layerNormEps: 1e-12,
    ...over,
  };
}

/** Random batch, 30 % masked; the last `pad` positions of each sequence are padding. */
export function randomBatch(rng: Rng, c: ModelConfig, batchSize: number, seqLen: number, pad = 2): MlmBatch {
  const b = syntheticBatch(rng, c.vocabSize, batchSize, seqLen, { maskRate: 0.3, padding: () => pad });
  if (b.maskedPositions.length > 0) return b;
  return { ...b, maskedPositions: Int32Array.of(1), maskedLabels: Int32Array.of(b.inputIds[1]) };
}

export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

/** A tensor of normal draws from `rng` (times `scale`). */
export function randn(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal() * scale),
    shape,
  );
}

/** Asserts |a − b| <= tol. */
export function close(a: number | undefined, b: number, tol = 1e-9): void {
  assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} vs ${b}`);
}

/** MLM loss and every active parameter's gradient of a tiny 2-block model, on the active backend. */
export interface LossAndGrads {
  loss: number;
  grads: Map<string, Float32Array>;
}

/** The model, batch and gates the backend-parity tests share (dropout on, both blocks rescaled). */
export async function tinyLossAndGrads(norm: 'pre' | 'post'): Promise<LossAndGrads> {
  const c = tinyConfig({ norm, layers: 2 });
  const gates: Gates = { theta: 0.7, keep: [true, true], scale: [0.85, 0.7] };
  const m = createBert(c, new Rng(5));
  const batch = randomBatch(new Rng(6), c, 3, 10);
  const names = activeParamNames(m, gates, { mlm: true, cls: false });
  const vars = names.map((n) => m.params.get(n) as tf.Variable);
  const { value, grads } = tf.variableGrads(() => mlmLoss(m, batch, { training: true, gates, rng: new Rng(0) }), vars);
  const out = new Map<string, Float32Array>();
  for (let i = 0; i < names.length; i++) out.set(names[i], (await grads[vars[i].name].data()) as Float32Array);
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  disposeBert(m);
  return { loss, grads: out };
}

/** Loss to 1e-5 and every gradient to 1e-4 relative; the attention key bias, zero in exact arithmetic, to 1e-5 absolute. */
export function assertSameLossAndGrads(got: LossAndGrads, want: LossAndGrads, label: string): void {
  assert.ok(Math.abs(got.loss - want.loss) / want.loss < 1e-5, `${label}: loss ${got.loss} vs ${want.loss}`);
  assert.equal(got.grads.size, want.grads.size);
  for (const [n, g] of want.grads) {
    if (n.endsWith('attention.self.key.bias')) {
      // Analytically zero (softmax is shift-invariant per query row): both must be ~0.
      for (const x of [...g, ...(got.grads.get(n) as Float32Array)])
        assert.ok(Math.abs(x) < 1e-5, `${label}: ${n}: ${x}`);
      continue;
    }
    const e = maxRelErr(got.grads.get(n) as Float32Array, g);
    assert.ok(e < 1e-4, `${label}: ${n}: rel err ${e}`);
  }
}
