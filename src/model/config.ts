/**
 * Model configuration: plain typed values, one home for defaults.
 * BERT-base values are the paper's (§5: 12 blocks, hidden 768, 12 heads, FFN 3072, seq 128).
 */
export type NormPlacement =
  /** Original BERT (PostLN): LayerNorm after each residual addition. */
  | 'post'
  /** PreLN ("identity mapping reordering", paper §3): LayerNorm on each sublayer's input and a final LayerNorm. */
  | 'pre';

export interface ModelConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  /** Feed-forward inner size (4 × hidden in BERT). */
  intermediate: number;
  maxPositions: number;
  /** Segment (token type) vocabulary: 2 in BERT. */
  typeVocab: number;
  norm: NormPlacement;
  /** Dropout on embeddings and on each branch output (BERT: 0.1). */
  hiddenDropout: number;
  /** Dropout on attention probabilities (BERT: 0.1). */
  attentionDropout: number;
  /** Truncated-normal-like init std (BERT: 0.02). */
  initStd: number;
  /** LayerNorm epsilon (BERT: 1e-12). */
  layerNormEps: number;
}

export const BERT_BASE: ModelConfig = {
  vocabSize: 30522,
  hidden: 768,
  layers: 12,
  heads: 12,
  intermediate: 3072,
  maxPositions: 512,
  typeVocab: 2,
  norm: 'pre',
  hiddenDropout: 0.1,
  attentionDropout: 0.1,
  initStd: 0.02,
  layerNormEps: 1e-12,
};

export function validateModelConfig(c: ModelConfig): void {
  const ints: (keyof ModelConfig)[] = [
    'vocabSize',
    'hidden',
    'layers',
    'heads',
    'intermediate',
    'maxPositions',
    'typeVocab',
  ];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new Error(`model.${k} must be a whole number >= 1, got ${JSON.stringify(v)}`);
  }
  if (c.hidden % c.heads !== 0)
    throw new Error(`model.hidden (${c.hidden}) must be divisible by model.heads (${c.heads})`);
  if (c.norm !== 'post' && c.norm !== 'pre')
    throw new Error(`model.norm must be 'post' or 'pre', got ${JSON.stringify(c.norm)}`);
  for (const k of ['hiddenDropout', 'attentionDropout'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`model.${k} must be in [0, 1), got ${c[k]}`);
  }
}

/** Multiply–accumulates of one forward pass per sequence, split by part (for GMAC/s and FLOP counts). */
export function forwardMacs(
  c: ModelConfig,
  seqLen: number,
  maskedPerSeq: number,
): { attention: number; ffn: number; head: number; perBlock: number } {
  const H = c.hidden;
  const S = seqLen;
  // Q, K, V and output projections (4·S·H²) plus scores and context (2·S²·H).
  const attention = 4 * S * H * H + 2 * S * S * H;
  const ffn = 2 * S * H * c.intermediate;
  // MLM head on the masked positions only: transform (H²) and tied decoder (H·V).
  const head = maskedPerSeq * (H * H + H * c.vocabSize);
  return { attention, ffn, head, perBlock: attention + ffn };
}
