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
import { topOneAccuracy } from './reference';

/**
 * A batch as plain arrays, as src/data produces it: flat [batch·seq] ids and mask, plus the flat
 * indices of the masked tokens and their original ids.
 */
export type MlmBatch = MlmBatchArrays;

/** Logits at the masked positions, [masked, vocab]. Call inside a tidy / gradient scope. */
function maskedLogits(model: Bert, b: MlmBatch, opts: { training: boolean; gates?: Gates; rng?: Rng }): tf.Tensor2D {
  const shape: [number, number] = [b.batchSize, b.seqLen];
  const seq = encode(
    model,
    { inputIds: tf.tensor2d(b.inputIds, shape, 'int32'), attentionMask: tf.tensor2d(b.attentionMask, shape, 'int32') },
    opts,
  );
  return mlmLogits(model, seq, tf.tensor1d(b.maskedPositions, 'int32'));
}

/** Mean MLM cross-entropy over the masked positions. Call inside a tidy / gradient scope. */
export function mlmLoss(model: Bert, b: MlmBatch, opts: { training: boolean; gates?: Gates; rng?: Rng }): tf.Scalar {
  return crossEntropy(maskedLogits(model, b, opts), tf.tensor1d(b.maskedLabels, 'int32'));
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

/** Validation MLM loss and top-1 accuracy at the masked positions, at full depth, no dropout; both weighted by masked tokens. */
export async function mlmEvaluate(
  model: Bert,
  batches: Iterable<MlmBatch>,
): Promise<{ loss: number; accuracy: number }> {
  let sum = 0;
  let hits = 0;
  let count = 0;
  for (const b of batches) {
    const [l, predicted] = tf.tidy(() => {
      const logits = maskedLogits(model, b, { training: false, gates: fullDepth(model.config.layers) });
      return [crossEntropy(logits, tf.tensor1d(b.maskedLabels, 'int32')), tf.argMax(logits, -1)];
    });
    sum += (await l.data())[0] * b.maskedPositions.length;
    hits += topOneAccuracy(await predicted.data(), b.maskedLabels) * b.maskedLabels.length;
    count += b.maskedPositions.length;
    tf.dispose([l, predicted]);
  }
  if (count === 0) throw new Error('validation set has no masked tokens; it needs at least one sequence');
  return { loss: sum / count, accuracy: hits / count };
}

/** Validation MLM loss alone (see `mlmEvaluate`). */
export async function mlmEvalLoss(model: Bert, batches: Iterable<MlmBatch>): Promise<number> {
  return (await mlmEvaluate(model, batches)).loss;
}
