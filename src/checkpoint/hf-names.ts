/**
 * Parameter names and shapes of the kit's BERT: the single source of truth used by the model to
 * create its variables and by checkpoints to write them. No tfjs here: names, shapes, plain arrays.
 *
 * Names are those of Hugging Face `transformers` (`BertForMaskedLM`, `BertForSequenceClassification`),
 * so a PostLN checkpoint loads into them; see docs/checkpoint-format.md for the full table.
 *
 * PreLN (paper §3) keeps the same names with two differences:
 *  - `bert.encoder.layer.{i}.attention.output.LayerNorm` normalises the attention sublayer's
 *    INPUT (DeepSpeed: `PreAttentionLayerNorm`), `bert.encoder.layer.{i}.output.LayerNorm` the FFN
 *    sublayer's input (DeepSpeed: `PostAttentionLayerNorm`), instead of the residual sums;
 *  - one extra LayerNorm after the last block, `bert.encoder.FinalLayerNorm` (DeepSpeed's name).
 *
 * Layout: the kit stores dense weights [in, out] (y = x @ W); PyTorch's nn.Linear stores
 * [out, in]. Checkpoint files use the PyTorch layout; `toTorchLayout` / `fromTorchLayout` convert.
 *
 * The MLM decoder is tied to the word embeddings: the kit has no `cls.predictions.decoder.weight`
 * (nor `.decoder.bias`, which transformers ties to `cls.predictions.bias`) and does not write
 * them, as `save_pretrained` does not write tied copies into safetensors either.
 */
import type { ModelConfig } from '../model/config';

export interface BertShapeConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  intermediate: number;
  maxPositions: number;
  typeVocab: number;
  norm: 'post' | 'pre';
  /** Classes of the [CLS] classifier (1 = regression); 0 or absent: no pooler/classifier. */
  numLabels?: number;
  mlmHead: boolean;
}

export interface ParamSpec {
  name: string;
  /** Kit layout ([in, out] for dense weights). */
  shape: number[];
  /** AdamW weight decay applies (false for biases and LayerNorm, the BERT convention). */
  decay: boolean;
}

/** The PreLN final LayerNorm's prefix (absent from PostLN models). */
export const FINAL_LAYER_NORM = 'bert.encoder.FinalLayerNorm';

/** Tied names transformers knows but the kit never stores: name -> the parameter it shares. */
export const TIED_WEIGHTS: Readonly<Record<string, string>> = {
  'cls.predictions.decoder.weight': 'bert.embeddings.word_embeddings.weight',
  'cls.predictions.decoder.bias': 'cls.predictions.bias',
};

function checkConfig(c: BertShapeConfig): void {
  for (const k of ['vocabSize', 'hidden', 'layers', 'intermediate', 'maxPositions', 'typeVocab'] as const) {
    const v = c[k];
    if (!Number.isSafeInteger(v) || v < 1)
      throw new Error(`bert parameter shapes: ${k} must be a whole number >= 1, got ${JSON.stringify(v)}`);
  }
  if (c.norm !== 'post' && c.norm !== 'pre')
    throw new Error(`bert parameter shapes: norm must be 'post' or 'pre', got ${JSON.stringify(c.norm)}`);
  const L = c.numLabels ?? 0;
  if (!Number.isSafeInteger(L) || L < 0)
    throw new Error(`bert parameter shapes: numLabels must be a whole number >= 0, got ${JSON.stringify(c.numLabels)}`);
}

/**
 * Every trainable tensor, in a fixed order (the model draws its initial values in this order, so
 * changing it changes every seeded run): embeddings, blocks 0..L-1, [FinalLayerNorm], [MLM head],
 * [pooler, classifier].
 */
export function bertParameterShapes(c: BertShapeConfig): ParamSpec[] {
  checkConfig(c);
  const H = c.hidden;
  const out: ParamSpec[] = [];
  const dense = (n: string, i: number, o: number): void => {
    out.push({ name: `${n}.weight`, shape: [i, o], decay: true }, { name: `${n}.bias`, shape: [o], decay: false });
  };
  const norm = (n: string): void => {
    out.push({ name: `${n}.weight`, shape: [H], decay: false }, { name: `${n}.bias`, shape: [H], decay: false });
  };
  out.push({ name: 'bert.embeddings.word_embeddings.weight', shape: [c.vocabSize, H], decay: true });
  out.push({ name: 'bert.embeddings.position_embeddings.weight', shape: [c.maxPositions, H], decay: true });
  out.push({ name: 'bert.embeddings.token_type_embeddings.weight', shape: [c.typeVocab, H], decay: true });
  norm('bert.embeddings.LayerNorm');
  for (let i = 0; i < c.layers; i++) {
    const p = `bert.encoder.layer.${i}`;
    dense(`${p}.attention.self.query`, H, H);
    dense(`${p}.attention.self.key`, H, H);
    dense(`${p}.attention.self.value`, H, H);
    dense(`${p}.attention.output.dense`, H, H);
    // PostLN: after the attention residual. PreLN: on the attention input (same name, other place).
    norm(`${p}.attention.output.LayerNorm`);
    dense(`${p}.intermediate.dense`, H, c.intermediate);
    dense(`${p}.output.dense`, c.intermediate, H);
    // PostLN: after the FFN residual. PreLN: on the FFN input.
    norm(`${p}.output.LayerNorm`);
  }
  if (c.norm === 'pre') norm(FINAL_LAYER_NORM);
  if (c.mlmHead) {
    dense('cls.predictions.transform.dense', H, H);
    norm('cls.predictions.transform.LayerNorm');
    // The decoder weight is tied to the word embeddings; only its bias is a parameter.
    out.push({ name: 'cls.predictions.bias', shape: [c.vocabSize], decay: false });
  }
  if ((c.numLabels ?? 0) > 0) {
    dense('bert.pooler.dense', H, H);
    dense('classifier', H, c.numLabels as number);
  }
  return out;
}

const LINEAR_WEIGHT =
  /^(?:bert\.encoder\.layer\.\d+\.(?:attention\.self\.(?:query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)|bert\.pooler\.dense|cls\.predictions\.transform\.dense|cls\.predictions\.decoder|classifier)\.weight$/;

/**
 * nn.Linear weights: the 2-D tensors whose layout differs between the kit ([in, out]) and PyTorch
 * ([out, in]). Embeddings and LayerNorm weights are not (they are the same in both).
 */
export function isLinearWeight(name: string): boolean {
  return LINEAR_WEIGHT.test(name);
}

/** Only in PreLN models (no counterpart in transformers' BertModel). */
export function isPreLnOnly(name: string): boolean {
  return name.startsWith(`${FINAL_LAYER_NORM}.`);
}

/**
 * The name DeepSpeed's PreLN BERT (modelingpreln.py: `PreAttentionLayerNorm`,
 * `PostAttentionLayerNorm`, `FinalLayerNorm`) uses for a kit PreLN parameter.
 */
export function deepSpeedPreLnName(name: string): string {
  return name
    .replace(/^(bert\.encoder\.layer\.\d+)\.attention\.output\.LayerNorm\./, '$1.PreAttentionLayerNorm.')
    .replace(/^(bert\.encoder\.layer\.\d+)\.output\.LayerNorm\./, '$1.PostAttentionLayerNorm.');
}

const TILE = 64;

/**
 * Transposes a row-major [rows, cols] matrix into [cols, rows], in 64×64 tiles so that the
 * strided side stays in cache (the output is written contiguously within a tile). `out` may be
 * given (must not alias `data`).
 */
export function transpose2d(
  data: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array = new Float32Array(rows * cols),
): Float32Array {
  if (data.length !== rows * cols)
    throw new Error(`transpose2d: data has ${data.length} elements, not ${rows}×${cols}`);
  if (out.length !== data.length) throw new Error(`transpose2d: output has ${out.length} elements, not ${data.length}`);
  if (out === data) throw new Error('transpose2d: cannot transpose in place');
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(c0 + TILE, cols);
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(r0 + TILE, rows);
      for (let c = c0; c < c1; c++) {
        const dst = c * rows;
        for (let r = r0; r < r1; r++) out[dst + r] = data[r * cols + c];
      }
    }
  }
  return out;
}

export interface ShapedData {
  shape: number[];
  data: Float32Array;
}

function relayout(name: string, shape: readonly number[], data: Float32Array, dir: string): ShapedData {
  if (!isLinearWeight(name)) return { shape: [...shape], data };
  if (shape.length !== 2)
    throw new Error(`${dir}: ${name} is a dense weight and must be 2-D, got shape [${shape.join(', ')}]`);
  const [rows, cols] = shape;
  if (data.length !== rows * cols)
    throw new Error(`${dir}: ${name} has ${data.length} values, shape [${rows}, ${cols}] needs ${rows * cols}`);
  return { shape: [cols, rows], data: transpose2d(data, rows, cols) };
}

/**
 * Kit layout -> PyTorch layout: dense weights [in, out] become [out, in] (a new array); every
 * other tensor is returned as is (same array, no copy).
 */
export function toTorchLayout(name: string, shape: readonly number[], data: Float32Array): ShapedData {
  return relayout(name, shape, data, 'toTorchLayout');
}

/** PyTorch layout -> kit layout (the inverse of toTorchLayout; `shape` is the file's shape). */
export function fromTorchLayout(name: string, shape: readonly number[], data: Float32Array): ShapedData {
  return relayout(name, shape, data, 'fromTorchLayout');
}

/** The kit's model config fields `hfBertConfig` needs (the dropouts, init and eps default to BERT's). */
export type HfConfigSource = Pick<
  ModelConfig,
  'vocabSize' | 'hidden' | 'layers' | 'heads' | 'intermediate' | 'maxPositions' | 'typeVocab' | 'norm'
> &
  Partial<Pick<ModelConfig, 'hiddenDropout' | 'attentionDropout' | 'initStd' | 'layerNormEps'>>;

/**
 * A transformers `config.json` for a PostLN model (BertForMaskedLM, or
 * BertForSequenceClassification when numLabels > 0). PreLN has no transformers equivalent.
 */
export function hfBertConfig(m: HfConfigSource, opts: { numLabels?: number } = {}): Record<string, unknown> {
  if (m.norm !== 'post')
    throw new Error(
      `a ${m.norm === 'pre' ? 'PreLN' : String(m.norm)} model has no transformers BertConfig equivalent; only PostLN checkpoints load into BertForMaskedLM`,
    );
  const numLabels = opts.numLabels ?? 0;
  return {
    architectures: [numLabels > 0 ? 'BertForSequenceClassification' : 'BertForMaskedLM'],
    model_type: 'bert',
    vocab_size: m.vocabSize,
    hidden_size: m.hidden,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    intermediate_size: m.intermediate,
    hidden_act: 'gelu',
    hidden_dropout_prob: m.hiddenDropout ?? 0.1,
    attention_probs_dropout_prob: m.attentionDropout ?? 0.1,
    max_position_embeddings: m.maxPositions,
    type_vocab_size: m.typeVocab,
    initializer_range: m.initStd ?? 0.02,
    layer_norm_eps: m.layerNormEps ?? 1e-12,
    position_embedding_type: 'absolute',
    tie_word_embeddings: true,
    ...(numLabels > 0
      ? { num_labels: numLabels, problem_type: numLabels === 1 ? 'regression' : 'single_label_classification' }
      : {}),
  };
}
