/** Corpus → tokenizer → packed train/validation sequences for a run config (memoised per process). */
import { Rng } from '../util/rng';
import { Document, corpusHash, corpusStats, loadCorpus, splitDocuments } from '../data/corpus';
import { WordPieceTokenizer } from '../data/tokenizer';
import { BatcherState, MlmBatchArrays, Packed, PretrainBatcher, fixedBatches, packSequences } from '../data/masking';
import { resolveKitPath } from '../util/paths';
import { DataConfig, RunConfig } from './config';
import { ReferenceLines, referenceLines } from './reference';

export type { BatcherState };

export interface PretrainData {
  tokenizer: WordPieceTokenizer;
  stats: {
    hash: string;
    documents: number;
    trainSequences: number;
    validSequences: number;
    words: number;
    tokens: number;
  };
  trainBatcher(cfg: RunConfig, rng: Rng): PretrainBatcher;
  validBatches(cfg: RunConfig): MlmBatchArrays[];
  /** Unigram loss and accuracy of the validation split (training-split frequencies): the no-context line. */
  reference: ReferenceLines;
}

const cache = new Map<string, PretrainData>();

/** The run's corpus and its document split into training and validation. */
export function splitPretrainCorpus(data: DataConfig): { docs: Document[]; train: Document[]; valid: Document[] } {
  const docs = loadCorpus({ sources: data.sources, folder: data.folder });
  return { docs, ...splitDocuments(docs, { validFraction: data.validFraction, seed: data.splitSeed }) };
}

export function loadPretrainData(cfg: RunConfig): PretrainData {
  const key = JSON.stringify([cfg.data, cfg.train.seqLen]);
  const hit = cache.get(key);
  if (hit) {
    checkVocab(hit.tokenizer, cfg);
    return hit;
  }
  const vocabFile = resolveKitPath(cfg.data.vocab);
  const tokenizer = WordPieceTokenizer.fromVocabFile(vocabFile);
  checkVocab(tokenizer, cfg);
  const { docs, train, valid } = splitPretrainCorpus(cfg.data);
  if (valid.length === 0)
    throw new Error(
      `the validation split is empty (${docs.length} documents, data.validFraction ${cfg.data.validFraction}); raise data.validFraction or add documents`,
    );
  if (train.length === 0)
    throw new Error('corpus has no text for training: every document went to validation; lower data.validFraction');
  const trainSeqs: Packed = packSequences(train, tokenizer, cfg.train.seqLen);
  const validSeqs: Packed = packSequences(valid, tokenizer, cfg.train.seqLen);
  const s = corpusStats(docs);
  const data: PretrainData = {
    tokenizer,
    stats: {
      hash: corpusHash(docs),
      documents: s.documents,
      trainSequences: trainSeqs.length,
      validSequences: validSeqs.length,
      words: s.words,
      tokens: [...trainSeqs, ...validSeqs].reduce((a, q) => a + q.length, 0),
    },
    trainBatcher: (c, rng) =>
      new PretrainBatcher(trainSeqs, tokenizer, c.train.batchSize, c.train.seqLen, rng.nextUint32(), c.train.maskProb),
    validBatches: (c) => fixedBatches(validSeqs, tokenizer, c.train.batchSize, c.train.seqLen, c.train.evalBatches),
    reference: referenceLines(trainSeqs, validSeqs, tokenizer.vocabSize, tokenizer.specialIds),
  };
  cache.set(key, data);
  return data;
}

function checkVocab(tok: WordPieceTokenizer, cfg: RunConfig): void {
  if (tok.vocabSize !== cfg.model.vocabSize) {
    throw new Error(
      `vocab ${cfg.data.vocab} has ${tok.vocabSize} tokens but model.vocabSize is ${cfg.model.vocabSize}; set model.vocabSize to ${tok.vocabSize} in the config`,
    );
  }
}
