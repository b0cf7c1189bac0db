/**
 * The paper's experiments as runs: each runs what it needs through `pretrain` / `finetune`, caching
 * finished runs under runs/<preset>/ so a notebook re-run reuses them; `fresh: true` (or
 * PLD_FRESH=1) recomputes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PretrainResult, pretrain, defaultOutDir, Manifest, StepRecord, EvalRecord } from '../train/pretrain';
import { PresetName, RunOverrides, Variant, resolveConfig, parsePreset } from '../train/config';
import { readJsonl } from '../train/runlog';
import { kitRoot } from '../util/paths';
import { FinetuneResult, finetune, FinetuneConfig } from '../finetune/finetune';
import { VARIANT_LABELS } from './plans';

export interface ExperimentOptions {
  preset?: string;
  fresh?: boolean;
  /** Root of the run cache (default runs/). */
  runsDir?: string;
  quiet?: boolean;
}

/** The preset notebooks use: PLD_PRESET, default `small`. */
export function notebookPreset(): PresetName {
  return parsePreset(process.env.PLD_PRESET ?? 'small');
}

function freshRequested(o: ExperimentOptions): boolean {
  return o.fresh ?? process.env.PLD_FRESH === '1';
}

/** A finished run from the cache, or a new one. Unfinished or mismatched cached runs are redone. */
export async function ensureRun(variant: Variant, o: ExperimentOptions & { overrides?: RunOverrides[]; tag?: string }): Promise<PretrainResult> {
  const preset = o.preset ?? notebookPreset();
  const cfg = resolveConfig(variant, preset, ...(o.overrides ?? []));
  const rel = path.relative('runs', defaultOutDir(cfg));
  const out = path.join(o.runsDir ?? process.env.PLD_RUNS_DIR ?? path.join(kitRoot(), 'runs'), o.tag ? `${rel}-${o.tag}` : rel);
  const manifestFile = path.join(out, 'manifest.json');
  if (!freshRequested(o) && fs.existsSync(manifestFile)) {
    const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
    const done = m.status === 'finished' || m.status === 'diverged';
    if (done && JSON.stringify(m.config) === JSON.stringify(cfg)) {
      const steps = readJsonl<StepRecord>(path.join(out, 'log.jsonl'));
      const evals = readJsonl<EvalRecord>(path.join(out, 'eval.jsonl'));
      return { out, config: cfg, finished: m.status === 'finished', diverged: m.status === 'diverged', error: m.error, steps, evals, finalValLoss: m.finalValLoss, trainSeconds: m.trainSeconds, checkpoint: path.join(out, 'checkpoint'), manifest: m };
    }
  }
  fs.rmSync(out, { recursive: true, force: true });
  // Progress to stdout: in a notebook stderr renders as an error.
  return pretrain({ variant, preset, overrides: o.overrides, out, onNonFinite: 'stop', quiet: o.quiet, stream: process.stdout });
}

/** The three pretraining runs every figure draws on. */
export async function mainRuns(o: ExperimentOptions = {}): Promise<Record<Variant, PretrainResult>> {
  return {
    postln: await ensureRun('postln', o),
    preln: await ensureRun('preln', o),
    'preln-pld': await ensureRun('preln-pld', o),
  };
}

/** Learning-rate robustness (paper §5.2): each variant at several peak LRs. */
export async function lrSweep(variant: Variant, lrs: number[], o: ExperimentOptions = {}): Promise<PretrainResult[]> {
  const out: PretrainResult[] = [];
  for (const lr of lrs) out.push(await ensureRun(variant, { ...o, overrides: [{ optim: { lr } }] }));
  return out;
}

/** Fine-tunes the baseline and PLD checkpoints on the offline suite (and GLUE tasks given a directory). */
export async function finetuneComparison(runs: PretrainResult[], o: ExperimentOptions & { tasks: string[]; glueDir?: string; config?: Partial<FinetuneConfig> }): Promise<FinetuneResult[]> {
  const results: FinetuneResult[] = [];
  for (const r of runs) {
    const label = `${VARIANT_LABELS[r.config.variant]} (lr ${r.config.optim.lr})`;
    const out = path.join(r.out, o.glueDir ? 'finetune-glue' : 'finetune');
    const cached = path.join(out, 'results.json');
    if (!freshRequested(o) && fs.existsSync(cached)) {
      const prev = JSON.parse(fs.readFileSync(cached, 'utf8')) as FinetuneResult;
      const tasks = prev.summary.map((s) => s.task.toLowerCase());
      if (o.tasks.every((t) => tasks.includes(t.toLowerCase()))) {
        results.push({ ...prev, label });
        continue;
      }
    }
    results.push({ ...(await finetune({ checkpoint: r.out, tasks: o.tasks, glueDir: o.glueDir, config: o.config, out, quiet: o.quiet, stream: process.stdout })), label });
  }
  return results;
}
