/**
 * Parameter names and shapes of the kit's BERT: the single source of truth used by the model to
 * create its variables and by checkpoints to write them. Names are Hugging Face `transformers`
 * BERT names so a PostLN checkpoint loads into `BertForMaskedLM`; see docs/checkpoint-format.md.
 *
 * Layout: the kit stores dense weights [in, out] (x @ W); PyTorch's nn.Linear stores [out, in].
 */
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

export function bertParameterShapes(c: BertShapeConfig): ParamSpec[] {
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
  // PreLN only: the final LayerNorm after the last block (DeepSpeed's `FinalLayerNorm`).
  if (c.norm === 'pre') norm('bert.encoder.FinalLayerNorm');
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

/** Dense (nn.Linear) weights, the 2-D tensors whose layout differs between kit and PyTorch. */
export function isLinearWeight(name: string): boolean {
  return name.endsWith('.weight') && !name.includes('embeddings') && !name.includes('LayerNorm');
}

/** Transpose a row-major [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
