/**
 * Builds a WordPiece vocabulary from the TRAIN split of Brown + SOTU, so the validation text never
 * shapes the vocabulary. Default: 8192 tokens to data/vocab.txt; `--size N` writes data/vocab-N.txt
 * (the `small` preset's vocabulary is one of these, see docs/experiment-design.md).
 *
 *   npm run build && node dist/scripts/build-vocab.js [--size N] [--out FILE]
 */
import * as path from 'path';
import { corpusStats, loadCorpus, splitDocuments } from '../src/data/corpus';
import { saveVocab } from '../src/data/tokenizer';
import { trainWordPiece } from '../src/data/wordpiece-trainer';
import { kitRoot } from '../src/util/paths';
import { parseFlags, stringFlag, wholeNumberFlag } from '../src/cli/flags';
import { PRETRAIN_SPLIT } from '../src/train/config';

function main(): void {
  const f = parseFlags(process.argv.slice(2), { size: 'value', out: 'value' });
  const size = wholeNumberFlag(f, 'size') ?? 8192;
  const outFlag = stringFlag(f, 'out');
  const file =
    outFlag !== undefined
      ? path.resolve(outFlag)
      : path.join(kitRoot(), 'data', size === 8192 ? 'vocab.txt' : `vocab-${size}.txt`);
  const docs = loadCorpus({ sources: ['brown', 'sotu'] });
  const { train } = splitDocuments(docs, { validFraction: PRETRAIN_SPLIT.validFraction, seed: PRETRAIN_SPLIT.seed });
  const tokens = trainWordPiece(
    train.flatMap((d) => d.sentences),
    { vocabSize: size },
  );
  // The trainer lists specials, then every character, then merges: a vocabulary that ends on a
  // single character had no room for the whole alphabet, and text would tokenize to [UNK].
  const last = tokens[tokens.length - 1].replace(/^##/, '');
  if ([...last].length === 1)
    throw new Error(`--size ${size} is too small for this corpus's specials and characters; use a larger --size`);
  saveVocab(file, tokens);
  console.log(`wrote ${file}: ${tokens.length} tokens from ${train.length} training documents`, corpusStats(train));
}

try {
  main();
} catch (e) {
  console.error(`build-vocab: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
