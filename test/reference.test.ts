import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  copyScore,
  fitUnigram,
  referenceLines,
  topOneAccuracy,
  unigramProb,
  unigramScore,
} from '../src/train/reference';
import { initBackend } from '../src/backend';
import { createBert, disposeBert, encode, mlmLogits } from '../src/model/bert';
import { mlmEvaluate, mlmLoss } from '../src/train/mlm';
import { Rng } from '../src/util/rng';
import { randomBatch, tinyConfig } from './helpers';

// Vocabulary of 6 ids; 0 and 1 are special ([PAD], [CLS]-like), never masked nor predicted.
const SPECIAL = new Set([0, 1]);
const TRAIN = [Int32Array.from([2, 2, 3, 5]), Int32Array.from([1, 2, 4, 0])];

test('unigram: add-one smoothed training frequencies over the non-special vocabulary', () => {
  const u = fitUnigram(TRAIN, 6, SPECIAL);
  // counts 2:3, 3:1, 4:1, 5:1 → total 6, support 4 → p = (c + 1) / 10.
  assert.deepEqual([...u.counts], [0, 0, 3, 1, 1, 1]);
  assert.equal(u.total, 6);
  assert.equal(u.support, 4);
  assert.equal(u.argmax, 2);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((t) => unigramProb(u, t)),
    [0, 0, 0.4, 0.2, 0.2, 0.2],
  );
});

test('unigram cross-entropy and accuracy of the validation tokens, hand-computed', () => {
  // Validation tokens that masking could select: 2, 3, 5 (0 and 1 are special and skipped).
  const valid = [Int32Array.from([2, 3, 0]), Int32Array.from([1, 5])];
  const s = unigramScore(fitUnigram(TRAIN, 6, SPECIAL), valid);
  assert.equal(s.tokens, 3);
  assert.ok(Math.abs(s.crossEntropy - -(Math.log(0.4) + 2 * Math.log(0.2)) / 3) < 1e-12);
  assert.equal(s.accuracy, 1 / 3);
  const r = referenceLines(TRAIN, valid, 6, SPECIAL);
  assert.deepEqual(r, {
    unigramLoss: s.crossEntropy,
    copyLoss: copyScore(fitUnigram(TRAIN, 6, SPECIAL), valid),
    unigramAccuracy: 1 / 3,
    validTokens: 3,
  });
});

test('unseen tokens keep the smoothed mass; a uniform corpus scores ln(support)', () => {
  const u = fitUnigram([Int32Array.from([2, 3, 4, 5])], 6, SPECIAL);
  const s = unigramScore(u, [Int32Array.from([2, 3, 4, 5])]);
  assert.ok(Math.abs(s.crossEntropy - Math.log(4)) < 1e-12);
  // Ties go to the lowest id.
  assert.equal(u.argmax, 2);
  assert.equal(unigramProb(fitUnigram([], 6, SPECIAL), 5), 1 / 4);
});

test('top-1 accuracy at masked positions', () => {
  assert.equal(topOneAccuracy([5, 2, 7, 7], [5, 3, 7, 1]), 0.5);
  assert.throws(
    () => topOneAccuracy([1], [1, 2]),
    /^Error: 1 predictions for 2 labels; they must be aligned one to one$/,
  );
  assert.throws(
    () => topOneAccuracy([], []),
    /^Error: no labels to score: accuracy needs at least one masked position$/,
  );
});

test('reference lines: bad input fails in one line', () => {
  assert.throws(
    () => fitUnigram([Int32Array.from([9])], 6, SPECIAL),
    /^Error: token id 9 is outside the vocabulary of 6; the sequences were made with another vocab$/,
  );
  assert.throws(
    () => unigramScore(fitUnigram(TRAIN, 6, SPECIAL), [Int32Array.from([0, 1])]),
    /^Error: the validation split has no token that masking could predict; add text to it$/,
  );
});

test('masked-token accuracy and loss of a model: argmax of the logits at the masked positions, against the loss function', async () => {
  await initBackend({ backend: 'cpu' });
  const c = tinyConfig();
  const m = createBert(c, new Rng(11));
  const batches = [randomBatch(new Rng(1), c, 3, 10), randomBatch(new Rng(2), c, 2, 10)];
  const r = await mlmEvaluate(m, batches);
  let hits = 0;
  let n = 0;
  let loss = 0;
  for (const b of batches) {
    const shape: [number, number] = [b.batchSize, b.seqLen];
    const logits = tf.tidy(() =>
      mlmLogits(
        m,
        encode(
          m,
          {
            inputIds: tf.tensor2d(b.inputIds, shape, 'int32'),
            attentionMask: tf.tensor2d(b.attentionMask, shape, 'int32'),
          },
          { training: false },
        ),
        tf.tensor1d(b.maskedPositions, 'int32'),
      ),
    );
    const rows = logits.arraySync();
    rows.forEach((row, i) => {
      if (row.indexOf(Math.max(...row)) === b.maskedLabels[i]) hits++;
    });
    const l = tf.tidy(() => mlmLoss(m, b, { training: false }));
    loss += l.dataSync()[0] * b.maskedLabels.length;
    n += b.maskedLabels.length;
    tf.dispose([logits, l]);
  }
  assert.equal(r.accuracy, hits / n);
  assert.ok(Math.abs(r.loss - loss / n) < 1e-6, `${r.loss} vs ${loss / n}`);
  // An untrained model over 50 tokens is near chance: ln 50 ≈ 3.9.
  assert.ok(r.loss > 3 && r.loss < 5, `${r.loss}`);
  disposeBert(m);
});

test('input-copy line: a hand-computed case, and it lies below the unigram line', () => {
  // Ids 1 and 2 are content, 0 special. Training counts 3 and 1: u(1) = 4/6, u(2) = 2/6, K = 2.
  // a_v = u(v) / (u(v) + 1/K): a_1 = 4/7, a_2 = 2/5. Scoring the single token y = 1:
  //   [MASK] (80 %): −ln u(1);  kept (10 %): −ln(a_1 + (1 − a_1)·u(1)) = −ln(6/7);
  //   random (10 %): v = 1 as kept, v = 2: −ln((1 − a_2)·u(1)) = −ln(2/5), averaged over K = 2.
  const u = fitUnigram([[1, 1, 1, 2]], 3, new Set([0]));
  const want = 0.8 * -Math.log(2 / 3) + 0.1 * -Math.log(6 / 7) + (0.1 * (-Math.log(6 / 7) - Math.log(2 / 5))) / 2;
  assert.ok(Math.abs(copyScore(u, [[1]]) - want) < 1e-12, `${copyScore(u, [[1]])} vs ${want}`);
  const r = referenceLines([[2, 3, 3, 4, 5, 2, 3]], [[3, 2, 4, 3]], 6, SPECIAL);
  assert.ok(r.copyLoss < r.unigramLoss, `${r.copyLoss} < ${r.unigramLoss}`);
  assert.throws(
    () => copyScore(u, [[0]]),
    /^Error: the validation split has no token that masking could predict; add text to it$/,
  );
});
