/**
 * `pld export --hf DIR`: a kit checkpoint as a Hugging Face model folder.
 *
 * PostLN checkpoints become a folder transformers loads as `BertForMaskedLM`
 * (`from_pretrained(DIR)`): config.json (BertConfig fields from `hfBertConfig`), model.safetensors
 * (the kit's names are transformers' names, PyTorch layout; the tied decoder copies are left out
 * as `save_pretrained` leaves them out), vocab.txt, tokenizer_config.json, special_tokens_map.json.
 * PreLN checkpoints have no transformers class: their tensors take DeepSpeed's PreLN names
 * (modelingpreln.py: PreAttentionLayerNorm, PostAttentionLayerNorm, FinalLayerNorm), config.json
 * says `pre_layer_norm: true` with the architecture `BertForPreTrainingPreLN` and no model_type (so
 * transformers refuses it instead of computing something else), and README.md says how to load it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors, NamedTensor, encodeSafetensors } from '../checkpoint/safetensors';
import { deepSpeedPreLnName, hfBertConfig, TIED_WEIGHTS } from '../checkpoint/hf-names';
import { readCheckpointState } from '../checkpoint/checkpoint';
import { resolveCheckpointDir, writeDirAtomic } from '../util/atomic';
import { resolveKitPath } from '../util/paths';
import { RunConfig } from '../train/config';
import { WordPieceTokenizer } from '../data/tokenizer';
import { checkExportTarget } from './target';

export const HF_FILES = [
  'config.json',
  'model.safetensors',
  'vocab.txt',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;

const SPECIAL_TOKENS = {
  unk_token: '[UNK]',
  sep_token: '[SEP]',
  pad_token: '[PAD]',
  cls_token: '[CLS]',
  mask_token: '[MASK]',
};

/** The folder's config.json: BertConfig for PostLN, the same fields plus pre_layer_norm (DeepSpeed's) for PreLN. */
export function hfConfigJson(cfg: RunConfig): Record<string, unknown> {
  const m = cfg.model;
  if (m.norm === 'post') return hfBertConfig(m);
  const { architectures: _a, model_type: _t, ...fields } = hfBertConfig({ ...m, norm: 'post' });
  return { architectures: ['BertForPreTrainingPreLN'], ...fields, pre_layer_norm: true };
}

function preLnReadme(cfg: RunConfig): string {
  return `# PreLN BERT from the PLD kit (${cfg.variant}, ${cfg.model.layers} blocks, hidden ${cfg.model.hidden})

A PreLN model (LayerNorm on each sublayer's input, a final LayerNorm after the last block): the
architecture of DeepSpeed's \`modelingpreln.py\` (\`BertForPreTrainingPreLN\`), not transformers'
\`BertModel\`. Tensor names are DeepSpeed's: \`bert.encoder.layer.{i}.PreAttentionLayerNorm\`,
\`bert.encoder.layer.{i}.PostAttentionLayerNorm\`, \`bert.encoder.FinalLayerNorm\`; everything else
has transformers' BERT names in PyTorch layout. transformers' \`BertForMaskedLM\` would load most of
these tensors but compute a different function, so config.json has no \`model_type\`. Load it with
the kit, with its PyTorch twin (\`python/pld_torch\`), or with DeepSpeed's PreLN BERT.
`;
}

/** Writes the Hugging Face folder `out` for the checkpoint of a run (run folder or its checkpoint/). */
export function exportHf(checkpoint: string, out: string): { norm: 'post' | 'pre'; tensors: number } {
  const dir = [checkpoint, path.join(checkpoint, 'checkpoint')]
    .map((d) => resolveCheckpointDir(d))
    .find((d) => d !== null && fs.existsSync(path.join(d, 'state.json')));
  if (!dir)
    throw new Error(
      `no checkpoint at ${checkpoint} (expected state.json there or in ${path.join(checkpoint, 'checkpoint')}); pass a pretraining run's --out directory`,
    );
  checkExportTarget(out, 'config.json', 'Hugging Face export');
  const state = readCheckpointState<RunConfig, unknown>(dir);
  const cfg = state.config;
  const vocabFile = resolveKitPath(cfg.data.vocab);
  const tok = WordPieceTokenizer.fromVocabFile(vocabFile);
  if (tok.vocabSize !== cfg.model.vocabSize)
    throw new Error(
      `vocab ${vocabFile} has ${tok.vocabSize} tokens but the checkpoint's model.vocabSize is ${cfg.model.vocabSize}; export from the checkout that trained it`,
    );
  const { tensors } = readSafetensors(path.join(dir, 'weights.safetensors'));
  const pre = cfg.model.norm === 'pre';
  const named: NamedTensor[] = [];
  for (const [name, t] of tensors) {
    if (name in TIED_WEIGHTS) continue;
    named.push({ name: pre ? deepSpeedPreLnName(name) : name, shape: t.shape, data: t.data });
  }
  const files: Record<string, string | Buffer> = {
    'config.json': JSON.stringify(hfConfigJson(cfg), null, 2),
    'model.safetensors': encodeSafetensors(named, { format: 'pt' }),
    'vocab.txt': fs.readFileSync(vocabFile, 'utf8'),
    'tokenizer_config.json': JSON.stringify(
      {
        tokenizer_class: 'BertTokenizer',
        do_lower_case: true,
        model_max_length: cfg.model.maxPositions,
        ...SPECIAL_TOKENS,
      },
      null,
      2,
    ),
    'special_tokens_map.json': JSON.stringify(SPECIAL_TOKENS, null, 2),
  };
  if (pre) files['README.md'] = preLnReadme(cfg);
  writeDirAtomic(path.resolve(out), files);
  return { norm: cfg.model.norm, tensors: named.length };
}
