/**
 * The Switchable-Transformer BERT (paper §4, Fig. 3): one encoder for PostLN, PreLN and PreLN+PLD.
 *
 * Eager style: weights are `tf.variable`s in a Map keyed by their Hugging Face BERT names
 * (`bert.encoder.layer.3.attention.self.query.weight`, …; see src/checkpoint/hf-names.ts), the
 * forward pass is ordinary code, so a dropped block is simply an `if` — none of its ops run and
 * its variables receive no gradient. Dense weights are stored [in, out] (x @ W).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng';
import { Gates, fullDepth } from '../schedule';
import { bertParameterShapes } from '../checkpoint/hf-names';
import { ModelConfig, validateModelConfig } from './config';
import { attention, dropout, gatherRows, layerNorm, linear, residual, softmaxCrossEntropy } from './ops';

export interface Bert {
  readonly config: ModelConfig;
  /** Trainable weights by Hugging Face name. */
  readonly params: Map<string, tf.Variable>;
  /** Names that get AdamW weight decay (not biases, not LayerNorm: the BERT convention). */
  readonly decay: Set<string>;
  readonly mlmHead: boolean;
  /** Classes of the [CLS] head (1 = regression); 0 when the model has none. */
  readonly numLabels: number;
}

export interface HeadOptions {
  mlmHead?: boolean;
  numLabels?: number;
}

let modelCounter = 0;

/** Name prefix of block i's parameters. */
export function blockPrefix(i: number): string {
  return `bert.encoder.layer.${i}.`;
}

/** The block a parameter belongs to (the inverse of `blockPrefix`), or null outside the blocks. */
export function blockIndex(name: string): number | null {
  const m = /^bert\.encoder\.layer\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Builds a model with BERT's initialisation: N(0, initStd) for dense weights and embeddings,
 * zeros for biases, LayerNorm γ = 1, β = 0. Values come from `rng`, so the same seed gives the
 * same weights on every backend.
 */
export function createBert(config: ModelConfig, rng: Rng, heads: HeadOptions = {}): Bert {
  validateModelConfig(config);
  const mlmHead = heads.mlmHead ?? true;
  const numLabels = heads.numLabels ?? 0;
  const id = modelCounter++;
  const params = new Map<string, tf.Variable>();
  const decay = new Set<string>();
  for (const p of bertParameterShapes({ ...config, mlmHead, numLabels })) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (/LayerNorm\.weight$/.test(p.name)) data.fill(1);
    else if (!p.name.endsWith('bias')) for (let k = 0; k < size; k++) data[k] = rng.normal() * config.initStd;
    const init = tf.tensor(data, p.shape);
    params.set(p.name, tf.variable(init, true, `bert${id}/${p.name}`));
    init.dispose(); // the variable holds its own reference to the data
    if (p.decay) decay.add(p.name);
  }
  return { config, params, decay, mlmHead, numLabels };
}

export function disposeBert(model: Bert): void {
  for (const v of model.params.values()) v.dispose();
  model.params.clear();
}

/** Names of the parameters a forward pass with these gates touches (dropped blocks excluded). */
export function activeParamNames(model: Bert, gates: Gates, use: { mlm: boolean; cls: boolean }): string[] {
  const out: string[] = [];
  for (const name of model.params.keys()) {
    const block = blockIndex(name);
    if (block !== null && !gates.keep[block]) continue;
    if (name.startsWith('cls.') && !use.mlm) continue;
    if ((name.startsWith('classifier.') || name.startsWith('bert.pooler.')) && !use.cls) continue;
    out.push(name);
  }
  return out;
}

function param(model: Bert, name: string): tf.Variable {
  const v = model.params.get(name);
  if (!v) throw new Error(`model has no parameter ${name}`);
  return v;
}

export interface EncoderInput {
  /** [batch, seq] int32 token ids. */
  inputIds: tf.Tensor2D;
  /** [batch, seq] 1 for real tokens, 0 for padding. */
  attentionMask: tf.Tensor2D;
  /** [batch, seq] segment ids; all zeros when omitted. */
  tokenTypeIds?: tf.Tensor2D;
}

export interface ForwardOptions {
  training: boolean;
  /** Which blocks run and their rescale; full depth when omitted (always so at evaluation). */
  gates?: Gates;
  /** Dropout seeds come from here; required when training with dropout. */
  rng?: Rng;
}

/** Dropout for one forward pass; `seedFor(rate)` draws the seed of a dropout done elsewhere (null: none). */
export interface Drop {
  (x: tf.Tensor, rate: number): tf.Tensor;
  seedFor(rate: number): number | null;
}

/** Dropout seeded from `opts.rng` when training; the identity at evaluation. */
export function dropper(opts: ForwardOptions): Drop {
  const seedFor = (rate: number): number | null => {
    if (!opts.training || rate === 0) return null;
    if (!opts.rng) throw new Error('training with dropout needs an rng in the forward options');
    return opts.rng.nextUint32();
  };
  return Object.assign(
    (x: tf.Tensor, rate: number): tf.Tensor => {
      const seed = seedFor(rate);
      return seed === null ? x : dropout(x, rate, seed);
    },
    { seedFor },
  );
}

/** Additive attention bias [batch, seq]: 0 where attended, −10000 at padding (BERT). */
export function attentionBias(attentionMask: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -10000) as tf.Tensor2D;
}

/** Embeddings [batch, seq, hidden]: token + position + segment, LayerNorm, dropout (BERT; PreLN keeps this LN too). */
export function embeddings(model: Bert, input: EncoderInput, drop: Drop): tf.Tensor3D {
  const c = model.config;
  const [B, S] = input.inputIds.shape;
  if (S > c.maxPositions) throw new Error(`sequence length ${S} exceeds model.maxPositions ${c.maxPositions}`);
  const P = (name: string): tf.Tensor2D => param(model, `bert.embeddings.${name}`) as tf.Tensor2D;
  const ids = input.inputIds.reshape([-1]) as tf.Tensor1D;
  const types = (input.tokenTypeIds ?? tf.zerosLike(input.inputIds)).reshape([-1]) as tf.Tensor1D;
  const positions = tf.tile(tf.range(0, S, 1, 'int32'), [B]) as tf.Tensor1D;
  const x = tf.addN([
    gatherRows(P('word_embeddings.weight'), ids),
    gatherRows(P('position_embeddings.weight'), positions),
    gatherRows(P('token_type_embeddings.weight'), types),
  ]);
  return drop(
    layerNorm(x.reshape([B, S, c.hidden]), P('LayerNorm.weight'), P('LayerNorm.bias'), c.layerNormEps),
    c.hiddenDropout,
  ) as tf.Tensor3D;
}

/** f_ATTN of block i: multi-head self-attention and its output projection, [B, S, H] → [B, S, H]. */
export function selfAttention(model: Bert, h: tf.Tensor3D, i: number, bias: tf.Tensor2D, drop: Drop): tf.Tensor3D {
  const c = model.config;
  const [B, S, H] = h.shape;
  const nh = c.heads;
  const dh = H / nh;
  const P = (name: string): tf.Variable => param(model, `${blockPrefix(i)}attention.${name}`);
  const h2 = h.reshape([B * S, H]);
  // Projections [B·S, H], each head's dh columns side by side.
  const proj = (name: string): tf.Tensor2D =>
    linear(h2, P(`self.${name}.weight`), P(`self.${name}.bias`)) as tf.Tensor2D;
  const seed = drop.seedFor(c.attentionDropout);
  const ctx = attention(proj('query'), proj('key'), proj('value'), bias, {
    heads: nh,
    scale: 1 / Math.sqrt(dh),
    rate: seed === null ? 0 : c.attentionDropout,
    seed: seed ?? 0,
  });
  return drop(
    linear(ctx, P('output.dense.weight'), P('output.dense.bias')).reshape([B, S, H]),
    c.hiddenDropout,
  ) as tf.Tensor3D;
}

/** f_FFN of block i: dense → GELU → dense, [B, S, H] → [B, S, H]. */
export function feedForward(model: Bert, h: tf.Tensor3D, i: number, drop: Drop): tf.Tensor3D {
  const P = (name: string): tf.Variable => param(model, blockPrefix(i) + name);
  const [B, S, H] = h.shape;
  const inner = linear(h.reshape([B * S, H]), P('intermediate.dense.weight'), P('intermediate.dense.bias'), 'gelu'); // [B·S, F]
  return drop(
    linear(inner, P('output.dense.weight'), P('output.dense.bias')).reshape([B, S, H]),
    model.config.hiddenDropout,
  ) as tf.Tensor3D;
}

/** Block i's LayerNorm in front of (PreLN) or after (PostLN) the given sublayer. */
export function blockNorm(model: Bert, t: tf.Tensor, i: number, sublayer: 'attention' | 'ffn'): tf.Tensor3D {
  const name = blockPrefix(i) + (sublayer === 'attention' ? 'attention.output.LayerNorm' : 'output.LayerNorm');
  return layerNorm(
    t,
    param(model, `${name}.weight`),
    param(model, `${name}.bias`),
    model.config.layerNormEps,
  ) as tf.Tensor3D;
}

/**
 * One half of block i around its residual: PreLN `x + f(LN(x))/p`, PostLN (original BERT)
 * `LN(x + f(x)/p)`, where f is the block's attention or feed-forward and p is PLD's rescale of
 * the branch (1 when the block always runs).
 */
export function residualSublayer(
  model: Bert,
  x: tf.Tensor3D,
  i: number,
  sublayer: 'attention' | 'ffn',
  f: (h: tf.Tensor3D) => tf.Tensor3D,
  p = 1,
): tf.Tensor3D {
  if (model.config.norm === 'pre') return residual(x, f(blockNorm(model, x, i, sublayer)), p) as tf.Tensor3D;
  return blockNorm(model, residual(x, f(x), p), i, sublayer);
}

/** Encoder output [batch, seq, hidden]. */
export function encode(model: Bert, input: EncoderInput, opts: ForwardOptions): tf.Tensor3D {
  const c = model.config;
  // Evaluation always runs every block with no rescale (paper §4).
  const gates = opts.training && opts.gates ? opts.gates : fullDepth(c.layers);
  const drop = dropper(opts);
  const bias = attentionBias(input.attentionMask);
  let x = embeddings(model, input, drop);
  for (let i = 0; i < c.layers; i++) {
    // G = 0: the block is the identity and nothing in it is computed.
    if (!gates.keep[i]) continue;
    const p = gates.scale[i];
    // Rescale only the branches, never the residual (paper eq. for the Switchable-Transformer).
    // PreLN:  h = x + G·f_ATTN(LN(x))/p ;  out = h + G·f_FFN(LN(h))/p
    // PostLN: h = LN(x + G·f_ATTN(x)/p) ;  out = LN(h + G·f_FFN(h)/p)  (original BERT)
    const h = residualSublayer(model, x, i, 'attention', (t) => selfAttention(model, t, i, bias, drop), p);
    x = residualSublayer(model, h, i, 'ffn', (t) => feedForward(model, t, i, drop), p);
  }
  if (c.norm === 'pre') x = finalNorm(model, x);
  return x;
}

/** PreLN's LayerNorm after the last block. */
export function finalNorm(model: Bert, x: tf.Tensor3D): tf.Tensor3D {
  return layerNorm(
    x,
    param(model, 'bert.encoder.FinalLayerNorm.weight'),
    param(model, 'bert.encoder.FinalLayerNorm.bias'),
    model.config.layerNormEps,
  ) as tf.Tensor3D;
}

/**
 * MLM logits at the masked positions only ([M, vocab]): transform (dense, GELU, LayerNorm) and a
 * decoder tied to the word embeddings. Scoring only the ~15 % masked tokens saves ~85 % of the
 * head's cost, which at small hidden sizes dominates the step.
 */
export function mlmLogits(model: Bert, seqOut: tf.Tensor3D, maskedPositions: tf.Tensor1D): tf.Tensor2D {
  if (!model.mlmHead) throw new Error('this model was built without an MLM head');
  const c = model.config;
  const flat = seqOut.reshape([-1, c.hidden]) as tf.Tensor2D;
  const h = gatherRows(flat, maskedPositions); // [M, H]
  let t = linear(
    h,
    param(model, 'cls.predictions.transform.dense.weight'),
    param(model, 'cls.predictions.transform.dense.bias'),
    'gelu',
  );
  t = layerNorm(
    t,
    param(model, 'cls.predictions.transform.LayerNorm.weight'),
    param(model, 'cls.predictions.transform.LayerNorm.bias'),
    c.layerNormEps,
  );
  // Tied decoder: logits = t @ Eᵀ + b.
  const E = param(model, 'bert.embeddings.word_embeddings.weight') as tf.Tensor2D; // [V, H]
  return tf.fused.matMul({
    a: t as tf.Tensor2D,
    b: E,
    transposeB: true,
    bias: param(model, 'cls.predictions.bias'),
  }) as tf.Tensor2D;
}

/** Mean cross-entropy of integer labels under logits [N, C]. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return softmaxCrossEntropy(logits, labels);
}

/** [CLS] head: pooler (dense + tanh on the first token) then classifier → [batch, numLabels]. */
export function clsLogits(model: Bert, seqOut: tf.Tensor3D, opts: ForwardOptions): tf.Tensor2D {
  if (model.numLabels < 1) throw new Error('this model was built without a classification head (numLabels = 0)');
  const [B, , H] = seqOut.shape;
  const first = seqOut.slice([0, 0, 0], [B, 1, H]).reshape([B, H]);
  const pooled = dropper(opts)(
    tf.tanh(linear(first, param(model, 'bert.pooler.dense.weight'), param(model, 'bert.pooler.dense.bias'))),
    model.config.hiddenDropout,
  );
  return linear(pooled, param(model, 'classifier.weight'), param(model, 'classifier.bias')) as tf.Tensor2D;
}

/** Parameter count, total and per block. */
export function countParams(model: Bert): { total: number; perBlock: number } {
  let total = 0;
  let perBlock = 0;
  for (const [name, v] of model.params) {
    total += v.size;
    if (name.startsWith(blockPrefix(0))) perBlock += v.size;
  }
  return { total, perBlock };
}
