/** Shared test fixtures: a tiny model config and a random MLM batch. */
import { ModelConfig } from '../src/model/config';
import { MlmBatch } from '../src/train/mlm';
import { Rng } from '../src/rng';

export function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    vocabSize: 50, hidden: 16, layers: 3, heads: 2, intermediate: 32, maxPositions: 16, typeVocab: 2,
    norm: 'pre', hiddenDropout: 0, attentionDropout: 0, initStd: 0.2, layerNormEps: 1e-12, ...over,
  };
}

/** Random batch; the last `pad` positions of each sequence are padding. */
export function randomBatch(rng: Rng, c: ModelConfig, batchSize: number, seqLen: number, pad = 2): MlmBatch {
  const n = batchSize * seqLen;
  const inputIds = new Int32Array(n);
  const attentionMask = new Int32Array(n);
  const positions: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const real = i % seqLen < seqLen - pad;
    inputIds[i] = real ? 5 + rng.int(c.vocabSize - 5) : 0;
    attentionMask[i] = real ? 1 : 0;
    if (real && rng.next() < 0.3) {
      positions.push(i);
      labels.push(inputIds[i]);
      inputIds[i] = 4; // [MASK]
    }
  }
  if (positions.length === 0) {
    positions.push(1);
    labels.push(inputIds[1]);
  }
  return { inputIds, attentionMask, maskedPositions: Int32Array.from(positions), maskedLabels: Int32Array.from(labels), batchSize, seqLen };
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
