import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WordPieceTokenizer, basicTokenize, saveVocab } from '../src/data/tokenizer';
import { trainWordPiece } from '../src/data/wordpiece-trainer';
import { PretrainBatcher, maskBatch, packSequences } from '../src/data/masking';
import { corpusStats, loadBrown, loadCorpus, loadSotu, splitDocuments, Document } from '../src/data/corpus';
import { Rng } from '../src/util/rng';

const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'want',
  '##want',
  '##ed',
  'wa',
  'un',
  'runn',
  '##ing',
  ',',
  'the',
  'cafe',
  '中',
  '国',
];
const tok = WordPieceTokenizer.fromTokens(VOCAB);

test('basic tokenization as BERT: lower-case, strip accents, split punctuation, space out CJK', () => {
  assert.deepEqual(basicTokenize(' \tHeLLo!how  \n Are yoU?  '), ['hello', '!', 'how', 'are', 'you', '?']);
  assert.deepEqual(basicTokenize('H\u00E9llo Caf\u00E9'), ['hello', 'cafe']);
  assert.deepEqual(basicTokenize('ah\u535A\u63A8zz'), ['ah', '\u535A', '\u63A8', 'zz']);
  assert.deepEqual(basicTokenize("don't stop—now"), ['don', "'", 't', 'stop', '—', 'now']);
  assert.deepEqual(basicTokenize('a\u0000b\uFFFDc\u200bd'), ['abcd']);
});

test('WordPiece: greedy longest match first with ## continuations and [UNK] (BERT test cases)', () => {
  assert.deepEqual(tok.tokenize(''), []);
  assert.deepEqual(tok.tokenize('unwanted running'), ['un', '##want', '##ed', 'runn', '##ing']);
  assert.deepEqual(tok.tokenize('UNwant\u00E9d,running'), ['un', '##want', '##ed', ',', 'runn', '##ing']);
  assert.deepEqual(tok.tokenize('unwantedX running'), ['[UNK]', 'runn', '##ing']);
  assert.deepEqual(tok.tokenize('the café 中国'), ['the', 'cafe', '中', '国']);
  assert.deepEqual(tok.encode('unwanted'), [9, 6, 7]);
  assert.equal(tok.decode([2, 9, 6, 7, 3]), 'unwanted');
  assert.deepEqual([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId], [0, 1, 2, 3, 4]);
});

test('vocab.txt round trip, and the shipped data/vocab.txt', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-vocab-'));
  const f = path.join(dir, 'vocab.txt');
  saveVocab(f, VOCAB);
  assert.equal(fs.readFileSync(f, 'utf8'), VOCAB.join('\n') + '\n');
  assert.deepEqual(WordPieceTokenizer.fromVocabFile(f).tokens, VOCAB);
  const shipped = WordPieceTokenizer.fromVocabFile(path.join(__dirname, '..', '..', 'data', 'vocab.txt'));
  assert.equal(shipped.vocabSize, 8192);
  assert.deepEqual(shipped.tokens.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  assert.deepEqual(shipped.tokenize('The President spoke to Congress.'), [
    'the',
    'president',
    'spoke',
    'to',
    'congress',
    '.',
  ]);
});

test('bad vocab files give one-line errors naming the file and line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-vocab-'));
  const w = (name: string, body: string | Buffer): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, body);
    return f;
  };
  const empty = w('empty.txt', '');
  assert.throws(() => WordPieceTokenizer.fromVocabFile(empty), {
    message: `vocab ${empty} is empty; a BERT vocab.txt has one token per line`,
  });
  const dup = w('dup.txt', '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nthe\n');
  assert.throws(() => WordPieceTokenizer.fromVocabFile(dup), {
    message: `vocab ${dup} line 7: duplicate token 'the' (first on line 6); each token must appear once`,
  });
  const blank = w('blank.txt', '[PAD]\n[UNK]\n\n[CLS]\n');
  assert.throws(() => WordPieceTokenizer.fromVocabFile(blank), {
    message: `vocab ${blank} line 3: empty token; a BERT vocab.txt has one token per line`,
  });
  const nomask = w('nomask.txt', '[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n');
  assert.throws(() => WordPieceTokenizer.fromVocabFile(nomask), {
    message: `vocab ${nomask} has no [MASK] token; a BERT vocab.txt must contain [PAD] [UNK] [CLS] [SEP] [MASK]`,
  });
  const bin = w('bin.txt', Buffer.from([1, 0, 2]));
  assert.throws(() => WordPieceTokenizer.fromVocabFile(bin), {
    message: `vocab ${bin} is a binary file; a BERT vocab.txt is UTF-8 text with one token per line`,
  });
  // A real BERT vocab (specials not at 0..4, [unusedN] slots) loads unchanged.
  const bert = w('bert.txt', '[PAD]\n[unused0]\n[unused1]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\n');
  const t = WordPieceTokenizer.fromVocabFile(bert);
  assert.deepEqual([t.padId, t.unkId, t.clsId, t.sepId, t.maskId], [0, 3, 4, 5, 6]);
  assert.ok(t.specialIds.has(1) && t.specialIds.has(2));
});

test('WordPiece trainer: specials first, alphabet, then frequent merges', () => {
  const v = trainWordPiece(['low lower lowest low low', 'newer newest wider'], { vocabSize: 40 });
  assert.deepEqual(v.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  assert.ok(v.includes('l') && v.includes('##o') && v.includes('##w'));
  // (##o, ##w) and (l, ##o) both occur 5 times; ties go to the smaller pair, so ##ow then low.
  assert.deepEqual(v.slice(v.indexOf('##ow'), v.indexOf('##ow') + 2), ['##ow', 'low']);
  assert.equal(new Set(v).size, v.length);
  const t = WordPieceTokenizer.fromTokens(v);
  assert.deepEqual(t.tokenize('low'), ['low']);
  assert.ok(t.tokenize('lowest').every((p) => p !== '[UNK]'));
});

test('corpus: Brown and SOTU load with their documented sizes; the split is deterministic and disjoint', () => {
  const brown = loadBrown();
  const sotu = loadSotu();
  assert.equal(brown.length, 500);
  assert.ok(sotu.length >= 225 && sotu.length <= 240, `${sotu.length} addresses`);
  const s = corpusStats(brown);
  assert.ok(s.words > 1_000_000 && s.words < 1_200_000, `Brown words ${s.words}`);
  assert.equal(brown[0].meta.genre, 'news');
  const all = loadCorpus({ sources: ['brown', 'sotu'] });
  const a = splitDocuments(all, { validFraction: 0.05, seed: 0 });
  const b = splitDocuments([...all].reverse(), { validFraction: 0.05, seed: 0 });
  assert.deepEqual(a.valid.map((d) => d.id).sort(), b.valid.map((d) => d.id).sort());
  assert.equal(a.train.length + a.valid.length, all.length);
  const ids = new Set(a.train.map((d) => d.id));
  assert.ok(a.valid.every((d) => !ids.has(d.id)));
  assert.ok(a.valid.length > 20 && a.valid.length < 60);
});

test('packing: [CLS] … [SEP] sequences of at most seqLen, sentences kept whole when they fit', () => {
  const doc: Document = {
    id: 'x',
    source: 'folder',
    text: '',
    sentences: ['the cafe', 'unwanted running', 'the the the the the the the the'],
    meta: {},
  };
  const packed = packSequences([doc], tok, 8);
  // room 6: [the cafe un ##want ##ed runn] would split a sentence, so: [the cafe] [un ##want ##ed runn ##ing] [the×6] [the×2]
  assert.deepEqual(
    packed.map((p) => Array.from(p)),
    [
      [13, 14],
      [9, 6, 7, 10, 11],
      [13, 13, 13, 13, 13, 13],
      [13, 13],
    ],
  );
  assert.throws(() => packSequences([], tok, 8), {
    message: 'corpus has no text: no sequences could be made from its documents',
  });
});

test('masking: ≈15 % of real tokens, 80/10/10, never specials or padding, deterministic', () => {
  const rng = new Rng(3);
  const seqs = Array.from({ length: 400 }, () => Int32Array.from({ length: 50 }, () => 5 + rng.int(12)));
  const opts = { maskProb: 0.15, vocabSize: VOCAB.length, maskId: 4, specialIds: tok.specialIds };
  const b = maskBatch(seqs, 64, tok, opts, new Rng(9));
  const n = 400 * 50;
  const frac = b.maskedPositions.length / n;
  assert.ok(Math.abs(frac - 0.15) < 0.01, `masked fraction ${frac}`);
  let asMask = 0;
  let same = 0;
  b.maskedPositions.forEach((p, i) => {
    const col = p % 64;
    assert.ok(col >= 1 && col <= 50, 'only content tokens are masked');
    if (b.inputIds[p] === 4) asMask++;
    else if (b.inputIds[p] === b.maskedLabels[i]) same++;
    assert.ok(b.inputIds[p] === 4 || b.inputIds[p] >= 5, 'random replacements are never special tokens');
  });
  const m = b.maskedPositions.length;
  assert.ok(Math.abs(asMask / m - 0.8) < 0.03, `[MASK] share ${asMask / m}`);
  // unchanged = 10 % kept + ~1/12 of the 10 % random draws that hit the same token
  assert.ok(Math.abs(same / m - (0.1 + 0.1 / 12)) < 0.03, `unchanged share ${same / m}`);
  assert.equal(b.inputIds[0], 2);
  assert.equal(b.inputIds[51], 3);
  assert.equal(b.attentionMask[52], 0);
  assert.equal(b.inputIds[52], 0);
  assert.deepEqual(maskBatch(seqs, 64, tok, opts, new Rng(9)), b);
});

test('batcher: resuming from a saved state reproduces the same batches', () => {
  const rng = new Rng(4);
  const seqs = Array.from({ length: 37 }, () => Int32Array.from({ length: 6 }, () => 5 + rng.int(12)));
  const a = new PretrainBatcher(seqs, tok, 8, 10, 77);
  for (let i = 0; i < 6; i++) a.next(); // crosses an epoch boundary (37 / 8)
  const saved = JSON.parse(JSON.stringify(a.getState()));
  const want = [a.next(), a.next(), a.next()];
  const b = new PretrainBatcher(seqs, tok, 8, 10, 77);
  b.setState(saved);
  assert.deepEqual([b.next(), b.next(), b.next()], want);
  assert.throws(() => new PretrainBatcher(seqs.slice(0, 3), tok, 8, 10, 1), {
    message: 'corpus has no text for a batch: 3 sequences but the batch size is 8; use more text or a smaller batch',
  });
});
