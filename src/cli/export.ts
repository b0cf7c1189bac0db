/** `pld export-data` and `pld export --hf`: the kit's data and checkpoints for PyTorch and Hugging Face. */
import * as fs from 'fs';
import * as path from 'path';
import {
  PRESETS,
  VARIANTS,
  RunConfig,
  RunOverrides,
  checkOverrides,
  readConfigFile,
  resolveConfig,
} from '../train/config';
import { readCheckpointState } from '../checkpoint/checkpoint';
import { resolveCheckpointDir } from '../util/atomic';
import { exportData } from '../export/data';
import { exportHf } from '../export/hf';
import { numberFlag, parseFlags, stringFlag } from './flags';

export const EXPORT_DATA_HELP = `pld export-data --out DIR (--run RUN | --variant V [--preset P] [--config FILE] [--steps N] [--seed N])

Writes the run's tokenized, packed corpus (train and validation) as shards for the PyTorch twin
(python -m pld_torch.train --data DIR; docs/scale-out.md), with the full run config in data.json.

  --out DIR        output folder (new, empty, or an earlier export, which is replaced)
  --run RUN        take the config from a pretraining run (its --out folder or checkpoint/)
  --variant V      ${VARIANTS.join(', ')}: the config pld pretrain would use (with --preset
                   ${PRESETS.join('|')}, default small, --config FILE, --steps N, --seed N)`;

export const EXPORT_HELP = `pld export --hf DIR --checkpoint RUN

Writes a pretraining checkpoint as a Hugging Face folder: config.json, model.safetensors, vocab.txt,
tokenizer_config.json, special_tokens_map.json. PostLN checkpoints load in transformers as
BertForMaskedLM (from_pretrained(DIR)); PreLN checkpoints get DeepSpeed's PreLN tensor names and a
README.md (transformers has no PreLN BERT).

  --hf DIR           output folder (new, empty, or an earlier export, which is replaced)
  --checkpoint RUN   a pretraining run's --out folder or its checkpoint/ folder`;

function configOfRun(run: string): RunConfig {
  for (const d of [run, path.join(run, 'checkpoint')]) {
    const real = resolveCheckpointDir(d);
    if (real && fs.existsSync(path.join(real, 'state.json')))
      return readCheckpointState<RunConfig, unknown>(real).config;
  }
  throw new Error(
    `no checkpoint at ${run} (expected state.json there or in ${path.join(run, 'checkpoint')}); pass a pretraining run's --out folder`,
  );
}

export function exportDataCommand(args: string[]): void {
  const f = parseFlags(args, {
    out: 'value',
    run: 'value',
    variant: 'value',
    preset: 'value',
    config: 'value',
    steps: 'value',
    seed: 'value',
    quiet: 'switch',
    help: 'switch',
  });
  if (f.has('help')) return void console.log(EXPORT_DATA_HELP);
  const out = stringFlag(f, 'out');
  if (!out) throw new Error('--out is required: the folder to write the shards to');
  const run = stringFlag(f, 'run');
  const variant = stringFlag(f, 'variant');
  if (!!run === !!variant)
    throw new Error('give either --run RUN (a pretraining run) or --variant V (and optionally --preset, --config)');
  let cfg: RunConfig;
  if (run) cfg = configOfRun(run);
  else {
    const overrides: RunOverrides[] = [];
    const file = stringFlag(f, 'config');
    if (file) overrides.push(readConfigFile(file));
    const steps = numberFlag(f, 'steps');
    const seed = numberFlag(f, 'seed');
    overrides.push(
      checkOverrides(
        { ...(seed !== undefined ? { seed } : {}), train: { ...(steps !== undefined ? { steps } : {}) } },
        'command-line flags',
      ),
    );
    cfg = resolveConfig(variant as string, stringFlag(f, 'preset') ?? 'small', ...overrides);
  }
  const meta = exportData(cfg, out);
  if (!f.has('quiet'))
    console.log(
      `wrote ${meta.splits.train.sequences} training and ${meta.splits.valid.sequences} validation sequences (${meta.splits.train.tokens + meta.splits.valid.tokens} tokens, seq ${cfg.train.seqLen}) to ${out}`,
    );
}

export function exportCommand(args: string[]): void {
  const f = parseFlags(args, { hf: 'value', checkpoint: 'value', help: 'switch' });
  if (f.has('help')) return void console.log(EXPORT_HELP);
  const out = stringFlag(f, 'hf');
  if (!out) throw new Error('--hf DIR is required: the folder to write the Hugging Face model to');
  const ckpt = stringFlag(f, 'checkpoint');
  if (!ckpt) throw new Error('--checkpoint is required: a pretraining run directory (see pld pretrain --help)');
  const r = exportHf(ckpt, out);
  console.log(
    `wrote ${r.tensors} tensors (${r.norm === 'post' ? 'PostLN: loads as transformers BertForMaskedLM' : "PreLN: DeepSpeed's PreLN names, see README.md"}) to ${out}`,
  );
}
