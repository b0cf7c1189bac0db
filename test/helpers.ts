/** Shared test fixtures: a tiny model config, random batches and tensors, and tolerance checks. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ModelConfig } from '../src/model/config';
import { MlmBatch } from '../src/train/mlm';
import { Rng } from '../src/util/rng';
import { syntheticBatch } from '../src/data/synthetic';

export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    vocabSize: 50, hidden: 16, layers: 3, heads: 2, intermediate: 32, maxPositions: 16, typeVocab: 2,
    norm: 'pre', hiddenDropout: 0, attentionDropout: 0, initStd: 0.2, layerNormEps: 1e-12, ...over,
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
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * scale), shape);
}

/** Asserts |a − b| <= tol. */
export function close(a: number | undefined, b: number, tol = 1e-9): void {
  assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} vs ${b}`);
}
