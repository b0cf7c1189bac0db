/** Random MLM batches for the throughput benchmark and the tests: no corpus or tokenizer needed. */
import { Rng } from '../util/rng';
import { MlmBatchArrays } from './masking';

/**
 * A synthetic MLM batch for timing: random tokens, BERT's 15 % masking, and padding like real
 * packed batches have: by default sequence b ends in (b mod 4)·seq/8 padding positions (19 % on
 * average); python/pld_torch/bench.py builds its batch by the same rule. Padding matters for speed:
 * masked keys must give exact zeros, not subnormals, in the attention probabilities (see
 * native/src/addon.cc). The tests draw their batches here too, with their own rates.
 */
export function syntheticBatch(
  rng: Rng,
  vocabSize: number,
  batchSize: number,
  seqLen: number,
  o: { maskRate?: number; padding?: (b: number) => number } = {},
): MlmBatchArrays {
  const maskRate = o.maskRate ?? 0.15;
  const padding = o.padding ?? ((b: number): number => Math.floor(((b % 4) * seqLen) / 8));
  const n = batchSize * seqLen;
  const inputIds = new Int32Array(n);
  const attentionMask = new Int32Array(n);
  const positions: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i % seqLen >= seqLen - padding(Math.floor(i / seqLen))) continue; // [PAD] = 0, mask 0
    attentionMask[i] = 1;
    inputIds[i] = 5 + rng.int(vocabSize - 5);
    if (rng.next() < maskRate) {
      positions.push(i);
      labels.push(inputIds[i]);
      inputIds[i] = 4; // [MASK]
    }
  }
  return {
    inputIds,
    attentionMask,
    maskedPositions: Int32Array.from(positions),
    maskedLabels: Int32Array.from(labels),
    batchSize,
    seqLen,
  };
}
