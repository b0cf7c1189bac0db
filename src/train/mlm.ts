/**
 * Masked-language-model loss and training step: the pretraining objective of every run
 * (PostLN, PreLN, PreLN+PLD differ only in model config and schedule).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng';
import { Gates, fullDepth } from '../schedule';
import { Bert, activeParamNames, crossEntropy, encode, mlmLogits } from '../model/bert';
import { MlmBatchArrays } from '../data/masking';
import { AdamW } from './optimizer';
import { StepResult, trainStep } from './step';

/**
 * A batch as plain arrays, as src/data produces it: flat [batch·seq] ids and mask, plus the flat
 * indices of the masked tokens and their original ids.
 */
export type MlmBatch = MlmBatchArrays;

/** Mean MLM cross-entropy over the masked positions. Call inside a tidy / gradient scope. */
export function mlmLoss(model: Bert, b: MlmBatch, opts: { training: boolean; gates?: Gates; rng?: Rng }): tf.Scalar {
  const shape: [number, number] = [b.batchSize, b.seqLen];
  const seq = encode(model, { inputIds: tf.tensor2d(b.inputIds, shape, 'int32'), attentionMask: tf.tensor2d(b.attentionMask, shape, 'int32') }, opts);
  const logits = mlmLogits(model, seq, tf.tensor1d(b.maskedPositions, 'int32'));
  return crossEntropy(logits, tf.tensor1d(b.maskedLabels, 'int32'));
}

/** One pretraining step with the given gates (fullDepth for the baselines). */
export function mlmTrainStep(
  model: Bert,
  opt: AdamW,
  b: MlmBatch,
  o: { gates: Gates; rng: Rng; lr: number; clipNorm: number; step: number },
): Promise<StepResult> {
  const active = activeParamNames(model, o.gates, { mlm: true, cls: false });
  return trainStep(model, opt, () => mlmLoss(model, b, { training: true, gates: o.gates, rng: o.rng }), active, o);
}

/** Validation MLM loss at full depth, no dropout, averaged over batches weighted by masked tokens. */
export async function mlmEvalLoss(model: Bert, batches: Iterable<MlmBatch>): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const l = tf.tidy(() => mlmLoss(model, b, { training: false, gates: fullDepth(model.config.layers) }));
    sum += (await l.data())[0] * b.maskedPositions.length;
    count += b.maskedPositions.length;
    l.dispose();
  }
  if (count === 0) throw new Error('validation set has no masked tokens; it needs at least one sequence');
  return sum / count;
}
