/** What the notebooks read from finished runs: gradient norms, time to the same loss, time per sample. */
import { PretrainResult, StepRecord, EvalRecord } from '../train/pretrain';
import { mean, median } from '../util/stats';
import type { SpeedupRun } from '../plots/figures';

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
  return secondsToReach(evalCurve(evals), target);
}

/** A validation-loss curve (plain arrays, aligned by index): step, training seconds so far, loss. */
export interface LossCurve {
  step: number[];
  seconds: number[];
  valLoss: number[];
}

/** A run's evaluation log as a loss curve. */
export function evalCurve(evals: EvalRecord[]): LossCurve {
  return {
    step: evals.map((e) => e.step),
    seconds: evals.map((e) => e.trainSeconds),
    valLoss: evals.map((e) => e.valLoss),
  };
}

/**
 * Speedup to the same loss (paper §5.1): the baseline's training seconds to reach its own final
 * validation loss divided by the other run's seconds to reach that loss; null when the other run
 * never reaches it.
 */
export function sameLossSpeedup(baseline: LossCurve, other: LossCurve): TargetSpeedup {
  return speedupAt(baseline, other, baseline.valLoss[baseline.valLoss.length - 1]);
}

/** Training seconds each of two runs needs to reach one target loss, and their ratio. */
export interface TargetSpeedup {
  target: number;
  baselineSeconds: number | null;
  otherSeconds: number | null;
  /** baselineSeconds ÷ otherSeconds; null when either never reaches the target. */
  speedup: number | null;
}

/** Speedup of `other` over `baseline` to a given validation loss (paper §5.1, at any target). */
export function speedupAt(baseline: LossCurve, other: LossCurve, target: number): TargetSpeedup {
  const baselineSeconds = secondsToReach(baseline, target);
  const otherSeconds = secondsToReach(other, target);
  const speedup =
    baselineSeconds === null || otherSeconds === null || otherSeconds <= 0 ? null : baselineSeconds / otherSeconds;
  return { target, baselineSeconds, otherSeconds, speedup };
}

/**
 * Target losses for time-to-quality, in nats below the unigram line: fixed offsets, so a rung means
 * the same thing at every preset and no target is chosen after seeing the curves. A rung no run
 * reaches stays in the table with null times.
 */
export const TARGET_OFFSETS = [0.25, 0.5, 0.75, 1, 1.25, 1.5] as const;

/** One rung of the time-to-quality table: each run's seconds to the target, and PLD's speedups. */
export interface TimeToTargetRow {
  /** Nats below the unigram line. */
  belowUnigram: number;
  target: number;
  /** Training seconds to reach the target, by run label (null: never reached). */
  seconds: Record<string, number | null>;
  /** PLD's speedup over each baseline at this target, by baseline label. */
  speedup: Record<string, number | null>;
}

/**
 * Time-to-quality the paper's way (§5.1): training seconds (untimed warm-up steps excluded, see
 * UNTIMED_STEPS) for each run to reach each target below the unigram line, and the speedup of
 * `pld` over each baseline at each target.
 */
export function timeToTargets(
  curves: Record<string, LossCurve>,
  pld: string,
  baselines: string[],
  unigramLoss: number,
  offsets: readonly number[] = TARGET_OFFSETS,
): TimeToTargetRow[] {
  for (const k of [pld, ...baselines])
    if (!curves[k]) throw new Error(`no loss curve labelled '${k}'; curves: ${Object.keys(curves).join(', ')}`);
  return offsets.map((d) => {
    const target = unigramLoss - d;
    const seconds = Object.fromEntries(Object.entries(curves).map(([k, c]) => [k, secondsToReach(c, target)]));
    const speedup = Object.fromEntries(baselines.map((b) => [b, speedupAt(curves[b], curves[pld], target).speedup]));
    return { belowUnigram: d, target, seconds, speedup };
  });
}

/** `sameLossSpeedup` of two finished pretraining runs. */
export function speedupToSameLoss(
  baseline: PretrainResult,
  other: PretrainResult,
): { target: number; baselineSeconds: number; otherSeconds: number | null; speedup: number | null } {
  const s = sameLossSpeedup(evalCurve(baseline.evals), evalCurve(other.evals));
  // A curve always reaches its own last value.
  return { ...s, baselineSeconds: s.baselineSeconds as number };
}

/**
 * Training seconds at which a loss curve first reaches `target` (linear interpolation between
 * evaluations), or null if it never does.
 */
export function secondsToReach(evals: LossCurve, target: number): number | null {
  const { seconds: s, valLoss: l } = evals;
  for (let i = 0; i < l.length; i++) {
    if (l[i] > target) continue;
    if (i === 0) return s[0];
    return s[i - 1] + ((l[i - 1] - target) / (l[i - 1] - l[i])) * (s[i] - s[i - 1]);
  }
  return null;
}

/** Median of each trailing window of `window` points: damps spikes from other processes sharing the CPU. */
export function rollingMedian(xs: number[], window: number): number[] {
  return xs.map((_, i) => median(xs.slice(Math.max(0, i - window + 1), i + 1)));
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
export function timePerSample(
  run: PretrainResult,
  baseline: PretrainResult,
  window = 20,
): { step: number[]; measured: number[]; ideal: number[] } {
  const baseSteps = timedSteps(baseline);
  const base = mean(baseSteps.map((s) => 1000 / s.samplesPerSec));
  const L = run.config.model.layers;
  const steps = timedSteps(run);
  return {
    step: steps.map((s) => s.step),
    measured: rollingMedian(
      steps.map((s) => 1000 / s.samplesPerSec),
      window,
    ),
    ideal: steps.map((s) => (base * s.expectedBlocks) / L),
  };
}

/** Pretraining runs as the speedup figures' input; the PLD run also gets its ideal time per sample. */
export function speedupRuns(
  runs: { label: string; run: PretrainResult }[],
  fullDepthBaseline: PretrainResult,
): SpeedupRun[] {
  return runs.map(({ label, run }) => {
    const t = timePerSample(run, fullDepthBaseline);
    const drops = run.config.schedule.thetaBar < 1;
    return {
      label,
      timePerSample: { step: t.step, ms: t.measured, ...(drops ? { idealMs: t.ideal } : {}) },
      evals: evalCurve(run.evals),
    };
  });
}

/**
 * The steps whose time counts: the run's own untimed warm-up steps (kernel set-up, first
 * compilation) left out; logs without the `timed` field skip their first 5 steps instead.
 */
export function timedSteps(r: PretrainResult): StepRecord[] {
  if (r.steps.some((s) => typeof s.timed === 'boolean')) return r.steps.filter((s) => s.timed !== false);
  return r.steps.slice(Math.min(5, Math.floor(r.steps.length / 4)));
}

/** Median training milliseconds per sample over a run (warm-up steps excluded): robust to CPU contention. */
export function medianMsPerSample(run: PretrainResult): number {
  return median(timedSteps(run).map((s) => 1000 / s.samplesPerSec));
}

/** Fraction of time per sample PLD saves over its full-depth baseline (paper: 24 %), from run medians. */
export function timePerSampleSaving(pld: PretrainResult, baseline: PretrainResult): number {
  return 1 - medianMsPerSample(pld) / medianMsPerSample(baseline);
}
