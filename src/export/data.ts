/**
 * `pld export-data`: the run's tokenized, packed corpus (train and validation) as shards the
 * PyTorch twin reads (python/pld_torch/data.py), so a run can continue on a cluster on the same
 * sequences, in the same order, with the same masks.
 *
 * Folder layout (written atomically as a whole, like a checkpoint):
 *   data.json            format, the full run config, the vocabulary's special ids, corpus stats,
 *                        and per split its sequence count, token count and shard files in order
 *   <split>-NNNNN.i32    little-endian int32: n, then the n sequences' lengths, then their tokens
 *                        back to back (content tokens only: [CLS]/[SEP]/padding are added per
 *                        batch). Lengths first, so a reader finds every sequence with one cumsum.
 * Sequences are in the kit's packing order: the twin's batcher shuffles them exactly as the kit's.
 */
import * as path from 'path';
import { Packed, packSequences } from '../data/masking';
import { WordPieceTokenizer } from '../data/tokenizer';
import { corpusHash, corpusStats } from '../data/corpus';
import { splitPretrainCorpus } from '../train/pretrain-data';
import { RunConfig } from '../train/config';
import { resolveKitPath } from '../util/paths';
import { FileContent, writeDirAtomic } from '../util/atomic';
import { checkExportTarget } from './target';

export const DATA_FORMAT = 1;
/** Records per shard file stay under this many int32 values (256 MiB). */
export const SHARD_INTS = 1 << 26;

export interface SplitInfo {
  sequences: number;
  tokens: number;
  shards: string[];
}

export interface ExportedDataMeta {
  format: number;
  config: RunConfig;
  vocab: { size: number; clsId: number; sepId: number; padId: number; maskId: number; specialIds: number[] };
  corpus: { hash: string; documents: number; words: number };
  splits: { train: SplitInfo; valid: SplitInfo };
}

/** A split's sequences as shard files of `[n, lengths…, tokens…]`, at most `shardInts` values each (one sequence at least). */
export function encodeShards(
  split: string,
  seqs: Packed,
  shardInts = SHARD_INTS,
): { files: Record<string, Uint8Array>; info: SplitInfo } {
  const files: Record<string, Uint8Array> = {};
  const info: SplitInfo = { sequences: seqs.length, tokens: 0, shards: [] };
  let start = 0;
  while (start < seqs.length) {
    let end = start;
    let ints = 1;
    while (end < seqs.length && (end === start || ints + 1 + seqs[end].length <= shardInts))
      ints += 1 + seqs[end++].length;
    const out = new Int32Array(ints);
    out[0] = end - start;
    let at = 1 + (end - start);
    for (let i = start; i < end; i++) {
      out[1 + i - start] = seqs[i].length;
      out.set(seqs[i], at);
      at += seqs[i].length;
      info.tokens += seqs[i].length;
    }
    const name = `${split}-${String(info.shards.length).padStart(5, '0')}.i32`;
    files[name] = littleEndian(out);
    info.shards.push(name);
    start = end;
  }
  return { files, info };
}

/** The values' little-endian bytes (a view on little-endian hosts). */
function littleEndian(a: Int32Array): Uint8Array {
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] === 1) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const b = Buffer.alloc(a.byteLength);
  a.forEach((v, i) => b.writeInt32LE(v, 4 * i));
  return b;
}

/** Tokenizes and packs the run's corpus as `pld pretrain` does and writes the shard folder `out`. */
export function exportData(cfg: RunConfig, out: string): ExportedDataMeta {
  checkExportTarget(out, 'data.json', 'exported data');
  const tok = WordPieceTokenizer.fromVocabFile(resolveKitPath(cfg.data.vocab));
  if (tok.vocabSize !== cfg.model.vocabSize) {
    throw new Error(
      `vocab ${cfg.data.vocab} has ${tok.vocabSize} tokens but model.vocabSize is ${cfg.model.vocabSize}; set model.vocabSize to ${tok.vocabSize} in the config`,
    );
  }
  const { docs, train, valid } = splitPretrainCorpus(cfg.data);
  if (train.length === 0 || valid.length === 0)
    throw new Error(
      `the corpus split has ${train.length} training and ${valid.length} validation documents; both need at least one (data.validFraction)`,
    );
  const tr = encodeShards('train', packSequences(train, tok, cfg.train.seqLen));
  const va = encodeShards('valid', packSequences(valid, tok, cfg.train.seqLen));
  const s = corpusStats(docs);
  const meta: ExportedDataMeta = {
    format: DATA_FORMAT,
    config: cfg,
    vocab: {
      size: tok.vocabSize,
      clsId: tok.clsId,
      sepId: tok.sepId,
      padId: tok.padId,
      maskId: tok.maskId,
      specialIds: [...tok.specialIds].sort((a, b) => a - b),
    },
    corpus: { hash: corpusHash(docs), documents: s.documents, words: s.words },
    splits: { train: tr.info, valid: va.info },
  };
  const files: Record<string, FileContent> = { ...tr.files, ...va.files, 'data.json': JSON.stringify(meta, null, 1) };
  writeDirAtomic(path.resolve(out), files);
  return meta;
}
