/**
 * Reference lines for masked-language-model curves: what a model that ignores context scores.
 *
 * Masking (src/data/masking.ts) selects every non-special content token with the same probability,
 * so the expected MLM loss of a model that predicts each masked token from nothing but token
 * frequencies is the unigram cross-entropy of the validation split's non-special tokens. A model
 * whose validation MLM loss is not below this line has learned nothing that uses context.
 */

/** Token frequencies of the training split over the tokens masking can select (special ids never are). */
import { MASK_SPLIT } from '../data/masking';

export interface Unigram {
  /** counts[t]: occurrences of token t in the training split (0 for special ids). */
  counts: Float64Array;
  /** Sum of counts. */
  total: number;
  /** Tokens the model can predict: the vocabulary less the special ids. */
  support: number;
  /** The most frequent training token: the unigram model's top-1 prediction at every position. */
  argmax: number;
  specialIds: ReadonlySet<number>;
}

export function fitUnigram(
  train: Iterable<ArrayLike<number>>,
  vocabSize: number,
  specialIds: ReadonlySet<number>,
): Unigram {
  const counts = new Float64Array(vocabSize);
  let total = 0;
  for (const seq of train) {
    for (let i = 0; i < seq.length; i++) {
      const t = seq[i];
      if (t < 0 || t >= vocabSize)
        throw new Error(
          `token id ${t} is outside the vocabulary of ${vocabSize}; the sequences were made with another vocab`,
        );
      if (specialIds.has(t)) continue;
      counts[t]++;
      total++;
    }
  }
  let support = 0;
  let argmax = -1;
  for (let t = 0; t < vocabSize; t++) {
    if (specialIds.has(t)) continue;
    support++;
    // Ties go to the lower id, so the prediction does not depend on iteration details.
    if (argmax < 0 || counts[t] > counts[argmax]) argmax = t;
  }
  if (support === 0)
    throw new Error('every token of the vocabulary is special; the unigram model has nothing to predict');
  return { counts, total, support, argmax, specialIds };
}

/** Add-one (Laplace) smoothed probability of token t: (count + 1) / (total + support). */
export function unigramProb(u: Unigram, t: number): number {
  if (u.specialIds.has(t)) return 0;
  return (u.counts[t] + 1) / (u.total + u.support);
}

/**
 * Mean −ln p(t) in nats over the non-special tokens of `targets` (the tokens masking would
 * predict), and the fraction of them equal to the unigram model's top-1 prediction.
 */
export function unigramScore(
  u: Unigram,
  targets: Iterable<ArrayLike<number>>,
): { crossEntropy: number; accuracy: number; tokens: number } {
  let nll = 0;
  let hits = 0;
  let n = 0;
  for (const seq of targets) {
    for (let i = 0; i < seq.length; i++) {
      const t = seq[i];
      if (u.specialIds.has(t)) continue;
      if (t < 0 || t >= u.counts.length)
        throw new Error(
          `token id ${t} is outside the vocabulary of ${u.counts.length}; the sequences were made with another vocab`,
        );
      nll -= Math.log(unigramProb(u, t));
      if (t === u.argmax) hits++;
      n++;
    }
  }
  if (n === 0) throw new Error('the validation split has no token that masking could predict; add text to it');
  return { crossEntropy: nll / n, accuracy: hits / n, tokens: n };
}

/** Fraction of positions where the predicted id equals the label (top-1 accuracy at masked positions). */
export function topOneAccuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predicted.length !== labels.length)
    throw new Error(`${predicted.length} predictions for ${labels.length} labels; they must be aligned one to one`);
  if (labels.length === 0) throw new Error('no labels to score: accuracy needs at least one masked position');
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits++;
  return hits / labels.length;
}

/**
 * The loss of a model that ignores context but sees its own position's input token. BERT's
 * corruption (MASK_SPLIT) leaves the token itself at 10 % of the masked positions and a random
 * token at another 10 %, so copying what is there beats the unigram line without any context.
 * Seeing content token v at a masked position, the best context-free prediction is
 * P(y | v) = a·[y = v] + (1 − a)·u(y) with a = u(v) / (u(v) + 1/K), u the unigram model and K the
 * tokens the random replacement draws from; seeing [MASK], it is u(y). Returns the expected
 * cross-entropy of that predictor over the non-special tokens of `targets`.
 */
export function copyScore(u: Unigram, targets: Iterable<ArrayLike<number>>): number {
  const K = u.support;
  const a = (v: number): number => unigramProb(u, v) / (unigramProb(u, v) + 1 / K);
  // Σ_v ln(1 − a_v) over the tokens the random replacement can draw.
  let sumLog1ma = 0;
  for (let v = 0; v < u.counts.length; v++) if (!u.specialIds.has(v)) sumLog1ma += Math.log(1 - a(v));
  let masked = 0;
  let kept = 0;
  let random = 0;
  let n = 0;
  for (const seq of targets) {
    for (let i = 0; i < seq.length; i++) {
      const y = seq[i];
      if (u.specialIds.has(y)) continue;
      const py = unigramProb(u, y);
      const ay = a(y);
      masked -= Math.log(py);
      kept -= Math.log(ay + (1 - ay) * py);
      // Mean over the K random inputs v: −ln((1 − a_v)·u(y)) for v ≠ y, the kept case for v = y.
      random += (-(K - 1) * Math.log(py) - (sumLog1ma - Math.log(1 - ay)) - Math.log(ay + (1 - ay) * py)) / K;
      n++;
    }
  }
  if (n === 0) throw new Error('the validation split has no token that masking could predict; add text to it');
  return (MASK_SPLIT.mask * masked + MASK_SPLIT.keep * kept + MASK_SPLIT.random * random) / n;
}

/** The reference lines a run's figures, evaluation records and manifest carry. */
export interface ReferenceLines {
  /** Unigram cross-entropy (nats) of the validation split: the loss of a model ignoring context. */
  unigramLoss: number;
  /**
   * The input-copy line (`copyScore`): a model ignoring context but copying its own position's
   * input reaches it. Below it, a model has learned to use context.
   */
  copyLoss: number;
  /** Top-1 accuracy of always predicting the most frequent training token. */
  unigramAccuracy: number;
  /** Validation tokens scored (non-special). */
  validTokens: number;
}

/** Unigram model of `train`, scored on `valid` (both as content-token sequences, e.g. `Packed`). */
export function referenceLines(
  train: Iterable<ArrayLike<number>>,
  valid: Iterable<ArrayLike<number>>,
  vocabSize: number,
  specialIds: ReadonlySet<number>,
): ReferenceLines {
  const u = fitUnigram(train, vocabSize, specialIds);
  const validSeqs = [...valid];
  const s = unigramScore(u, validSeqs);
  return {
    unigramLoss: s.crossEntropy,
    copyLoss: copyScore(u, validSeqs),
    unigramAccuracy: s.accuracy,
    validTokens: s.tokens,
  };
}
