/**
 * The paper's experiments as functions the notebooks (and scripts) call. Each runs what it needs
 * through `pretrain` / `finetune`, caching finished runs under runs/<preset>/ so a notebook re-run
 * reuses them; `fresh: true` (or PLD_FRESH=1) recomputes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PretrainResult, pretrain, defaultOutDir, Manifest, StepRecord, EvalRecord } from './train/pretrain';
import { PresetName, RunOverrides, Variant, resolveConfig, parsePreset } from './train/config';
import { readJsonl } from './train/runlog';
import { kitRoot } from './paths';
import { median } from './metrics';
import { SpeedupRun, secondsToReach } from './plots/figures';
import { FinetuneResult, finetune, FinetuneConfig } from './finetune';

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

export interface GradNormSeries {
  label: string;
  steps: number[];
  /** [step index][block] gradient L2 norm. */
  norms: number[][];
  /** First-block norm ÷ last-block norm at each recorded step. */
  firstOverLast: number[];
}

/** Per-block gradient norms recorded during a full-depth run (the paper's Figure 1). */
export function gradNormSeries(label: string, r: PretrainResult): GradNormSeries {
  const rows = r.steps.filter((s) => Array.isArray(s.blockGradNorms) && s.blockGradNorms.every((x) => x !== null));
  const norms = rows.map((s) => (s.blockGradNorms as number[]).slice());
  return { label, steps: rows.map((s) => s.step), norms, firstOverLast: norms.map((n) => n[0] / n[n.length - 1]) };
}

/**
 * Time-to-same-loss: the training seconds a run needs to first reach `target` validation loss
 * (linear interpolation between evaluations), or null if it never does.
 */
export function timeToLoss(evals: EvalRecord[], target: number): number | null {
  return secondsToReach({ step: evals.map((e) => e.step), seconds: evals.map((e) => e.trainSeconds), valLoss: evals.map((e) => e.valLoss) }, target);
}

export function speedupToSameLoss(baseline: PretrainResult, other: PretrainResult): { target: number; baselineSeconds: number; otherSeconds: number | null; speedup: number | null } {
  const target = baseline.evals[baseline.evals.length - 1].valLoss;
  const baselineSeconds = timeToLoss(baseline.evals, target) as number;
  const otherSeconds = timeToLoss(other.evals, target);
  return { target, baselineSeconds, otherSeconds, speedup: otherSeconds === null ? null : baselineSeconds / otherSeconds };
}

/** Learning-rate robustness (paper §5.2): each variant at several peak LRs. */
export async function lrSweep(variant: Variant, lrs: number[], o: ExperimentOptions = {}): Promise<PretrainResult[]> {
  const out: PretrainResult[] = [];
  for (const lr of lrs) out.push(await ensureRun(variant, { ...o, overrides: [{ optim: { lr } }] }));
  return out;
}

/** Fine-tunes the baseline and PLD checkpoints on the offline suite (and GLUE tasks given a directory). */
/** Display names of the variants in figures and tables. */
export const VARIANT_LABELS: Record<Variant, string> = { postln: 'PostLN', preln: 'PreLN', 'preln-pld': 'PreLN+PLD' };

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

/** What each notebook runs at each preset (kept here so notebooks hold no settings a script would need). */
export interface NotebookPlan {
  /** Extra peak LRs for the robustness figure (the main runs' LRs are included automatically). */
  lrSweep: { postln: number[]; 'preln-pld': number[] };
  finetune: Partial<FinetuneConfig>;
  tasks: string[];
}

export const NOTEBOOK_PLANS: Record<PresetName, NotebookPlan> = {
  quick: { lrSweep: { postln: [1e-3, 3e-3], 'preln-pld': [3e-3] }, finetune: { maxTrain: 300, maxDev: 100, epochs: 2, seeds: [1], lrs: [3e-3] }, tasks: ['spam', 'genre', 'sotu-year', 'adjacent', 'acceptability'] },
  small: { lrSweep: { postln: [1e-3, 3e-3], 'preln-pld': [3e-3] }, finetune: { maxTrain: 1000, maxDev: 400, epochs: 3, seeds: [1, 2], lrs: [3e-3] }, tasks: ['spam', 'genre', 'sotu-year', 'adjacent', 'acceptability'] },
  base: { lrSweep: { postln: [1e-3, 3e-3], 'preln-pld': [3e-3] }, finetune: {}, tasks: ['spam', 'genre', 'sotu-year', 'adjacent', 'acceptability'] },
};

/** Median of each trailing window of `window` points: damps spikes from other processes sharing the CPU. */
export function rollingMedian(xs: number[], window: number): number[] {
  return xs.map((_, i) => {
    const w = xs.slice(Math.max(0, i - window + 1), i + 1).sort((a, b) => a - b);
    return w.length % 2 ? w[(w.length - 1) / 2] : (w[w.length / 2 - 1] + w[w.length / 2]) / 2;
  });
}

/** Moving average over `window` points. */
export function smooth(xs: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i];
    if (i >= window) sum -= xs[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

/**
 * Milliseconds per sample at each step, measured (smoothed), and the ideal for a PLD run: the
 * full-depth baseline's mean time per sample scaled by the expected fraction of blocks run.
 */
export function timePerSample(run: PretrainResult, baseline: PretrainResult, window = 20): { step: number[]; measured: number[]; ideal: number[] } {
  // The first steps include kernel set-up (wasm/XNNPACK operator creation): leave them out.
  const skip = (r: PretrainResult): StepRecord[] => r.steps.slice(Math.min(5, Math.floor(r.steps.length / 4)));
  const baseSteps = skip(baseline);
  const base = baseSteps.reduce((a, s) => a + 1000 / s.samplesPerSec, 0) / baseSteps.length;
  const L = run.config.model.layers;
  const steps = skip(run);
  return {
    step: steps.map((s) => s.step),
    measured: rollingMedian(steps.map((s) => 1000 / s.samplesPerSec), window),
    ideal: steps.map((s) => (base * s.expectedBlocks) / L),
  };
}

/** Pretraining runs as the speedup figures' input; the PLD run also gets its ideal time per sample. */
export function speedupRuns(runs: { label: string; run: PretrainResult }[], fullDepthBaseline: PretrainResult): SpeedupRun[] {
  return runs.map(({ label, run }) => {
    const t = timePerSample(run, fullDepthBaseline);
    const drops = run.config.schedule.thetaBar < 1;
    return {
      label,
      timePerSample: { step: t.step, ms: t.measured, ...(drops ? { idealMs: t.ideal } : {}) },
      evals: { step: run.evals.map((e) => e.step), seconds: run.evals.map((e) => e.trainSeconds), valLoss: run.evals.map((e) => e.valLoss) },
    };
  });
}

/** Median training milliseconds per sample over a run (warm-up steps excluded): robust to CPU contention. */
export function medianMsPerSample(run: PretrainResult): number {
  return median(run.steps.slice(Math.min(5, Math.floor(run.steps.length / 4))).map((s) => 1000 / s.samplesPerSec));
}
