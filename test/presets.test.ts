import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, PRESETS, VARIANTS } from '../src/train/config';
import { loadPretrainData } from '../src/train/pretrain-data';
import { resolveKitPath } from '../src/util/paths';
import { WordPieceTokenizer } from '../src/data/tokenizer';

test('every preset resolves for every variant; small keeps the paper depth and the 10× LR ratio', () => {
  for (const p of PRESETS) for (const v of VARIANTS) resolveConfig(v, p);
  const pre = resolveConfig('preln', 'small');
  const post = resolveConfig('postln', 'small');
  const pld = resolveConfig('preln-pld', 'small');
  assert.equal(pre.model.layers, 12);
  assert.equal(pre.optim.lr, pld.optim.lr);
  assert.equal(post.optim.lr, 3e-4);
  assert.ok(Math.abs(pre.optim.lr / post.optim.lr - 10) < 1e-9);
  // γ is scaled to the preset's run length.
  assert.equal(pld.schedule.gamma, 8 / pld.train.steps);
  // The sequence fits the position table, and warmup is whole steps.
  assert.ok(pre.train.seqLen <= pre.model.maxPositions);
  assert.ok(pre.optim.warmupFraction * pre.train.steps >= 1);
});

test("small's vocabulary file has exactly model.vocabSize tokens and covers the corpus without [UNK]", () => {
  const cfg = resolveConfig('preln', 'small');
  const tok = WordPieceTokenizer.fromVocabFile(resolveKitPath(cfg.data.vocab));
  assert.equal(tok.vocabSize, cfg.model.vocabSize);
  // A sentence with capitals, digits and punctuation: every character is in the alphabet.
  const ids = tok.encode('In 1961, the Senate voted 52 to 48; "State of the Union" followed.');
  assert.ok(ids.length > 0);
  assert.ok(!ids.includes(tok.unkId), `[UNK] in ${ids}`);
  // Loading the run's data checks the vocab against the model and yields its unigram line.
  const data = loadPretrainData(cfg);
  assert.ok(data.reference.unigramLoss > 0 && data.reference.unigramLoss < Math.log(cfg.model.vocabSize));
});
