/**
 * Pretraining examples: documents → packed token sequences → BERT-masked batches.
 *
 * Packing: consecutive sentences of one document fill a sequence of up to seqLen − 2 tokens,
 * wrapped as `[CLS] … [SEP]` (one segment; the paper's runs drop next-sentence prediction as
 * DeepSpeed's PLD recipe keeps only MLM). Masking: 15 % of real tokens, BERT's 80/10/10 rule,
 * drawn afresh for every batch from the batcher's seeded generator (dynamic masking).
 */
import { Rng, RngState } from '../util/rng';
import { Document } from './corpus';
import { WordPieceTokenizer } from './tokenizer';

/** Content tokens of each packed sequence (no [CLS]/[SEP]/padding). */
export type Packed = Int32Array[];

/**
 * BERT's corruption of a selected position (Devlin et al. 2019, §3.1): [MASK] 80 % of the time, a
 * uniformly random content token 10 %, the token itself 10 %. The input-copy reference line
 * (src/train/reference.ts) follows from it.
 */
export const MASK_SPLIT = { mask: 0.8, random: 0.1, keep: 0.1 } as const;

export function packSequences(docs: Document[], tok: WordPieceTokenizer, seqLen: number): Packed {
  const room = seqLen - 2;
  if (room < 1) throw new Error(`sequence length ${seqLen} leaves no room for text between [CLS] and [SEP]`);
  const out: Packed = [];
  for (const d of docs) {
    let cur: number[] = [];
    const flush = (): void => {
      if (cur.length) out.push(Int32Array.from(cur));
      cur = [];
    };
    for (const s of d.sentences) {
      const ids = tok.encode(s);
      if (cur.length + ids.length > room) flush();
      // A sentence longer than a whole sequence is cut into sequence-sized pieces.
      for (let i = 0; i < ids.length; i += room) {
        const piece = ids.slice(i, i + room);
        if (cur.length + piece.length > room) flush();
        cur.push(...piece);
      }
    }
    flush();
  }
  if (out.length === 0) throw new Error('corpus has no text: no sequences could be made from its documents');
  return out;
}

export interface MaskOptions {
  maskProb: number;
  vocabSize: number;
  maskId: number;
  /** Never masked nor used as random replacements. */
  specialIds: Set<number>;
}

export interface MlmBatchArrays {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  maskedPositions: Int32Array;
  maskedLabels: Int32Array;
  batchSize: number;
  seqLen: number;
}

/**
 * Builds one batch from content sequences: [CLS] x [SEP] + padding, then BERT masking of the
 * content tokens: each is selected with `maskProb`; a selected token becomes [MASK] 80 % of the
 * time, a random non-special token 10 %, itself 10 %. At least one token per sequence is selected.
 */
export function maskBatch(
  seqs: Int32Array[],
  seqLen: number,
  pad: { clsId: number; sepId: number; padId: number },
  m: MaskOptions,
  rng: Rng,
): MlmBatchArrays {
  const B = seqs.length;
  const inputIds = new Int32Array(B * seqLen).fill(pad.padId);
  const attentionMask = new Int32Array(B * seqLen);
  const positions: number[] = [];
  const labels: number[] = [];
  const randomToken = (): number => {
    for (;;) {
      const t = rng.int(m.vocabSize);
      if (!m.specialIds.has(t)) return t;
    }
  };
  seqs.forEach((s, b) => {
    const base = b * seqLen;
    inputIds[base] = pad.clsId;
    inputIds.set(s, base + 1);
    inputIds[base + 1 + s.length] = pad.sepId;
    attentionMask.fill(1, base, base + s.length + 2);
    const chosen: number[] = [];
    for (let i = 0; i < s.length; i++) if (!m.specialIds.has(s[i]) && rng.next() < m.maskProb) chosen.push(i);
    if (chosen.length === 0) {
      const candidates = [...s.keys()].filter((i) => !m.specialIds.has(s[i]));
      if (candidates.length) chosen.push(candidates[rng.int(candidates.length)]);
    }
    for (const i of chosen) {
      const at = base + 1 + i;
      positions.push(at);
      labels.push(s[i]);
      const r = rng.next();
      if (r < MASK_SPLIT.mask) inputIds[at] = m.maskId;
      else if (r < MASK_SPLIT.mask + MASK_SPLIT.random) inputIds[at] = randomToken();
    }
  });
  return {
    inputIds,
    attentionMask,
    maskedPositions: Int32Array.from(positions),
    maskedLabels: Int32Array.from(labels),
    batchSize: B,
    seqLen,
  };
}

export interface BatcherState {
  epoch: number;
  /** Next position in this epoch's order. */
  index: number;
  /** Masking generator. */
  rng: RngState;
}

/**
 * Endless shuffled batches over packed sequences, epoch after epoch. The order of epoch e is a
 * shuffle seeded by (seed, e), so the state to resume is just (epoch, index, masking RNG).
 */
export class PretrainBatcher {
  private order: number[] = [];
  private orderEpoch = -1;
  private state: BatcherState;

  constructor(
    private readonly seqs: Packed,
    private readonly tok: WordPieceTokenizer,
    private readonly batchSize: number,
    private readonly seqLen: number,
    private readonly seed: number,
    private readonly maskProb = 0.15,
  ) {
    if (seqs.length < batchSize)
      throw new Error(
        `corpus has no text for a batch: ${seqs.length} sequences but the batch size is ${batchSize}; use more text or a smaller batch`,
      );
    this.state = { epoch: 0, index: 0, rng: new Rng(seed ^ 0x5bd1e995).state };
  }

  private orderFor(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      this.order = new Rng(this.seed * 1009 + epoch).shuffle([...this.seqs.keys()]);
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  next(): MlmBatchArrays {
    let { epoch, index } = this.state;
    const rng = Rng.fromState(this.state.rng);
    const picked: Int32Array[] = [];
    while (picked.length < this.batchSize) {
      const order = this.orderFor(epoch);
      if (index >= order.length) {
        epoch++;
        index = 0;
        continue;
      }
      picked.push(this.seqs[order[index++]]);
    }
    const batch = maskBatch(
      picked,
      this.seqLen,
      this.tok,
      {
        maskProb: this.maskProb,
        vocabSize: this.tok.vocabSize,
        maskId: this.tok.maskId,
        specialIds: this.tok.specialIds,
      },
      rng,
    );
    this.state = { epoch, index, rng: rng.state };
    return batch;
  }

  getState(): BatcherState {
    return { ...this.state };
  }

  setState(s: BatcherState): void {
    this.state = { ...s };
  }
}

/** Fixed validation batches: the first sequences of the validation documents, masked with a fixed seed. */
export function fixedBatches(
  seqs: Packed,
  tok: WordPieceTokenizer,
  batchSize: number,
  seqLen: number,
  count: number,
  seed = 12345,
): MlmBatchArrays[] {
  const rng = new Rng(seed);
  const out: MlmBatchArrays[] = [];
  for (let b = 0; b < count && (b + 1) * batchSize <= seqs.length; b++) {
    out.push(
      maskBatch(
        seqs.slice(b * batchSize, (b + 1) * batchSize),
        seqLen,
        tok,
        { maskProb: 0.15, vocabSize: tok.vocabSize, maskId: tok.maskId, specialIds: tok.specialIds },
        rng,
      ),
    );
  }
  if (out.length === 0)
    throw new Error(
      `validation split has ${seqs.length} sequences, fewer than one batch of ${batchSize}; raise data.validFraction or lower train.batchSize`,
    );
  return out;
}
