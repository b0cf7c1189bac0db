/**
 * Builds data/vocab.txt (8192 WordPiece tokens) from the TRAIN split of Brown + SOTU, so the
 * validation text never shapes the vocabulary. Run: npm run build && node dist/scripts/build-vocab.js
 */
import * as path from 'path';
import { corpusStats, loadCorpus, splitDocuments } from '../src/data/corpus';
import { saveVocab } from '../src/data/tokenizer';
import { trainWordPiece } from '../src/data/wordpiece-trainer';
import { kitRoot } from '../src/util/paths';

const docs = loadCorpus({ sources: ['brown', 'sotu'] });
const { train } = splitDocuments(docs, { validFraction: 0.05, seed: 0 });
const tokens = trainWordPiece(
  train.flatMap((d) => d.sentences),
  { vocabSize: 8192 },
);
const file = path.join(kitRoot(), 'data', 'vocab.txt');
saveVocab(file, tokens);
console.log(`wrote ${file}: ${tokens.length} tokens from ${train.length} training documents`, corpusStats(train));
