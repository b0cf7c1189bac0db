/**
 * A training checkpoint: a directory written atomically (see ../util/atomic.ts) holding
 *   weights.safetensors    model weights, Hugging Face BERT names, PyTorch [out, in] layout
 *   optimizer.safetensors  AdamW moments `exp_avg.<name>` / `exp_avg_sq.<name>` (kit layout)
 *   state.json             config, step, per-parameter optimizer steps, RNG and data-cursor state
 * θ is not stored: it is recomputed from the step (STYLE: state is explicit and minimal).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Bert } from '../model/bert';
import { AdamW } from '../train/optimizer';
import { RngState } from '../util/rng';
import { encodeSafetensors, NamedTensor, readSafetensors } from './safetensors';
import { resolveCheckpointDir, writeDirAtomic } from '../util/atomic';
import { kitVersion } from '../util/manifest';
import { isLinearWeight, transpose2d } from './hf-names';

export const CHECKPOINT_FORMAT = 1;

export interface CheckpointState<C, D> {
  format: number;
  /** Kit version that wrote it (readers ignore unknown fields). */
  kitVersion: string;
  /** Optimizer steps completed. */
  step: number;
  config: C;
  /** Updates each parameter has received (PLD skips blocks, so these differ). */
  optimizerSteps: Record<string, number>;
  rng: RngState;
  data: D;
  /** Seconds of training (excluding evaluation and checkpointing) up to `step`. */
  trainSeconds: number;
}

async function toNamed(name: string, t: tf.Tensor, torchLayout: boolean): Promise<NamedTensor> {
  const data = (await t.data()) as Float32Array;
  if (torchLayout && isLinearWeight(name) && t.rank === 2) {
    const [rows, cols] = t.shape as [number, number];
    return { name, shape: [cols, rows], data: transpose2d(data, rows, cols) };
  }
  return { name, shape: [...t.shape], data: new Float32Array(data) };
}

/** Model weights as safetensors bytes (usable alone, e.g. to hand to PyTorch). */
export async function encodeWeights(model: Bert): Promise<Buffer> {
  const tensors = await Promise.all([...model.params].map(([n, v]) => toNamed(n, v, true)));
  return encodeSafetensors(tensors, { format: 'pt', producer: 'pld-kit', norm: model.config.norm });
}

export async function saveCheckpoint<C, D>(
  dir: string,
  model: Bert,
  opt: AdamW,
  state: Omit<CheckpointState<C, D>, 'format' | 'kitVersion' | 'optimizerSteps'>,
): Promise<void> {
  const moments: NamedTensor[] = [];
  const optimizerSteps: Record<string, number> = {};
  for (const [name, s] of opt.state) {
    moments.push(await toNamed(`exp_avg.${name}`, s.m, false), await toNamed(`exp_avg_sq.${name}`, s.v, false));
    optimizerSteps[name] = s.step;
  }
  const full: CheckpointState<C, D> = { format: CHECKPOINT_FORMAT, kitVersion: kitVersion(), optimizerSteps, ...state };
  writeDirAtomic(dir, {
    'weights.safetensors': await encodeWeights(model),
    'optimizer.safetensors': encodeSafetensors(moments, {}),
    'state.json': JSON.stringify(full, null, 1),
  });
}

/** Reads state.json only (to compare configs before touching any weights). */
export function readCheckpointState<C, D>(dir: string): CheckpointState<C, D> {
  // A writer killed between its two renames leaves only `<dir>.old`: read that one.
  const file = path.join(resolveCheckpointDir(dir) ?? dir, 'state.json');
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no checkpoint at ${dir} (missing state.json); run without --resume to start a new run`);
  }
  const s = JSON.parse(raw) as CheckpointState<C, D>;
  if (s.format !== CHECKPOINT_FORMAT)
    throw new Error(`checkpoint ${dir} has format ${s.format}, this kit reads format ${CHECKPOINT_FORMAT}`);
  return s;
}

/** Copies a checkpoint's weights into `model`; every model parameter must be present with its shape. */
export function loadWeights(
  model: Bert,
  file: string,
  opts: { allowMissing?: (name: string) => boolean } = {},
): string[] {
  const { tensors } = readSafetensors(file);
  const missing: string[] = [];
  for (const [name, v] of model.params) {
    const t = tensors.get(name);
    if (!t) {
      if (opts.allowMissing?.(name)) {
        missing.push(name);
        continue;
      }
      throw new Error(`checkpoint ${file} has no tensor ${name}; it was saved from a different model config`);
    }
    const kitShape = isLinearWeight(name) && t.shape.length === 2 ? [t.shape[1], t.shape[0]] : t.shape;
    if (kitShape.join(',') !== v.shape.join(',')) {
      throw new Error(
        `checkpoint ${file}: tensor ${name} has shape [${kitShape}] but the model expects [${v.shape}]; it was saved from a different model config`,
      );
    }
    const data = isLinearWeight(name) && t.shape.length === 2 ? transpose2d(t.data, t.shape[0], t.shape[1]) : t.data;
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
  return missing;
}

/** Restores weights, optimizer moments and per-parameter steps from a checkpoint directory. */
export function loadCheckpoint<C, D>(checkpointDir: string, model: Bert, opt: AdamW): CheckpointState<C, D> {
  const state = readCheckpointState<C, D>(checkpointDir);
  const dir = resolveCheckpointDir(checkpointDir) ?? checkpointDir;
  loadWeights(model, path.join(dir, 'weights.safetensors'));
  const file = path.join(dir, 'optimizer.safetensors');
  const { tensors } = readSafetensors(file);
  opt.dispose();
  for (const [name, step] of Object.entries(state.optimizerSteps)) {
    const m = tensors.get(`exp_avg.${name}`);
    const v = tensors.get(`exp_avg_sq.${name}`);
    const p = model.params.get(name);
    if (!m || !v || !p) throw new Error(`checkpoint ${dir}: optimizer state for ${name} is incomplete`);
    const variable = (d: Float32Array): tf.Variable => tf.tidy(() => tf.variable(tf.tensor(d, p.shape), false));
    opt.state.set(name, { m: variable(m.data), v: variable(v.data), step });
  }
  return state;
}
