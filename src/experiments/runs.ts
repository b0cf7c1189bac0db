/**
 * The paper's experiments as runs: each runs what it needs through `pretrain` / `finetune`, caching
 * finished runs under runs/<preset>/ so a notebook re-run reuses them; `fresh: true` (or
 * PLD_FRESH=1) recomputes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PretrainResult, pretrain, defaultOutDir, Manifest, StepRecord, EvalRecord } from '../train/pretrain';
import { PresetName, RunConfig, RunOverrides, Variant, resolveConfig, parsePreset } from '../train/config';
import { readJsonl } from '../train/runlog';
import { kitRoot } from '../util/paths';
import {
  FINETUNE_DEFAULTS,
  FinetuneConfig,
  FinetuneInit,
  FinetuneResult,
  RANDOM_INIT_LABEL,
  finetune,
} from '../finetune/finetune';
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

/** Where a run of this variant, preset and overrides is cached. */
function cachedOut(
  variant: Variant,
  o: ExperimentOptions & { overrides?: RunOverrides[]; tag?: string },
): { cfg: RunConfig; out: string } {
  const cfg = resolveConfig(variant, o.preset ?? notebookPreset(), ...(o.overrides ?? []));
  const rel = path.relative('runs', defaultOutDir(cfg));
  return {
    cfg,
    out: path.join(
      o.runsDir ?? process.env.PLD_RUNS_DIR ?? path.join(kitRoot(), 'runs'),
      o.tag ? `${rel}-${o.tag}` : rel,
    ),
  };
}

/** A finished (or diverged) run from the cache with exactly this config, or null; never trains. */
export function cachedRun(
  variant: Variant,
  o: ExperimentOptions & { overrides?: RunOverrides[]; tag?: string },
): PretrainResult | null {
  const { cfg, out } = cachedOut(variant, o);
  const manifestFile = path.join(out, 'manifest.json');
  if (!fs.existsSync(manifestFile)) return null;
  const m = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  const done = m.status === 'finished' || m.status === 'diverged';
  // A run whose records lack the reference lines (unigram loss, masked accuracy) cannot be read against them: redo it.
  if (!done || JSON.stringify(m.config) !== JSON.stringify(cfg) || m.reference === undefined) return null;
  const steps = readJsonl<StepRecord>(path.join(out, 'log.jsonl'));
  const evals = readJsonl<EvalRecord>(path.join(out, 'eval.jsonl'));
  return {
    out,
    config: cfg,
    finished: m.status === 'finished',
    diverged: m.status === 'diverged',
    error: m.error,
    steps,
    evals,
    finalValLoss: m.finalValLoss,
    trainSeconds: m.trainSeconds,
    checkpoint: path.join(out, 'checkpoint'),
    manifest: m,
  };
}

/** A finished run from the cache, or a new one. Unfinished or mismatched cached runs are redone. */
export async function ensureRun(
  variant: Variant,
  o: ExperimentOptions & { overrides?: RunOverrides[]; tag?: string },
): Promise<PretrainResult> {
  const preset = o.preset ?? notebookPreset();
  const hit = freshRequested(o) ? null : cachedRun(variant, o);
  if (hit) return hit;
  const { out } = cachedOut(variant, o);
  fs.rmSync(out, { recursive: true, force: true });
  // Progress to stdout: in a notebook stderr renders as an error.
  return pretrain({
    variant,
    preset,
    overrides: o.overrides,
    out,
    onNonFinite: 'stop',
    quiet: o.quiet,
    stream: process.stdout,
  });
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

/** Where `finetuneComparison` keeps a run's fine-tuning results (the control's beside the run whose shape it copies). */
export function finetuneDir(run: PretrainResult, init: FinetuneInit, glue = false): string {
  return path.join(run.out, `${glue ? 'finetune-glue' : 'finetune'}${init === 'random' ? '-random' : ''}`);
}

/** Cached fine-tuning results of a run, or null. */
export function cachedFinetune(run: PretrainResult, init: FinetuneInit, glue = false): FinetuneResult | null {
  const file = path.join(finetuneDir(run, init, glue), 'results.json');
  if (!fs.existsSync(file)) return null;
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as FinetuneResult;
  return r.init === init ? r : null;
}

/**
 * Fine-tunes each run's checkpoint on the offline suite (and GLUE tasks given a directory) with the
 * protocol of src/finetune (LR chosen on held-out training data, median over seeds); with
 * `control`, also a randomly initialised encoder of the first run's shape, labelled
 * RANDOM_INIT_LABEL. Results are cached beside each run and reused only with the same tasks and settings.
 */
export async function finetuneComparison(
  runs: PretrainResult[],
  o: ExperimentOptions & { tasks: string[]; glueDir?: string; config?: Partial<FinetuneConfig>; control?: boolean },
): Promise<FinetuneResult[]> {
  const config: FinetuneConfig = { ...FINETUNE_DEFAULTS, ...o.config };
  const jobs: { run: PretrainResult; init: FinetuneInit; label: string }[] = runs.map((r) => ({
    run: r,
    init: 'pretrained',
    label: `${VARIANT_LABELS[r.config.variant]} (lr ${r.config.optim.lr})`,
  }));
  if (o.control && runs.length) jobs.push({ run: runs[0], init: 'random', label: RANDOM_INIT_LABEL });
  const results: FinetuneResult[] = [];
  for (const { run: r, init, label } of jobs) {
    const out = finetuneDir(r, init, o.glueDir !== undefined);
    const cached = path.join(out, 'results.json');
    if (!freshRequested(o) && fs.existsSync(cached)) {
      const prev = JSON.parse(fs.readFileSync(cached, 'utf8')) as FinetuneResult;
      const tasks = prev.summary.map((s) => s.task.toLowerCase());
      if (
        prev.init === init &&
        JSON.stringify(prev.config) === JSON.stringify(config) &&
        o.tasks.every((t) => tasks.includes(t.toLowerCase()))
      ) {
        results.push({ ...prev, label });
        continue;
      }
    }
    results.push({
      ...(await finetune({
        checkpoint: r.out,
        tasks: o.tasks,
        glueDir: o.glueDir,
        config,
        init,
        out,
        quiet: o.quiet,
        stream: process.stdout,
      })),
      label,
    });
  }
  return results;
}
