/** Series for the schedule notebook: analytic curves and draws from the real sampler. */
import { Rng } from '../util/rng';
import { ScheduleConfig, blockProbs, expectedBlocks, sampleGates, thetaAt } from '../schedule';

const grid = (T: number, points: number): number[] =>
  Array.from({ length: points }, (_, i) => Math.round((i * T) / (points - 1)));

export function thetaCurves(
  schedules: { label: string; s: ScheduleConfig }[],
  T: number,
  points = 200,
): { label: string; t: number[]; theta: number[] }[] {
  const t = grid(T, points);
  return schedules.map(({ label, s }) => ({ label, t, theta: t.map((x) => thetaAt(s, x)) }));
}

/** p[block][time] for the heat map. */
export function keepProbGrid(
  s: ScheduleConfig,
  L: number,
  T: number,
  points = 100,
): { t: number[]; blocks: number; p: number[][] } {
  const t = grid(T, points);
  const cols = t.map((x) => blockProbs(s, L, thetaAt(s, x)).sample);
  return { t, blocks: L, p: Array.from({ length: L }, (_, l) => cols.map((c) => c[l])) };
}

/**
 * Expected blocks run at each step and the blocks the seeded sampler actually ran (averaged over
 * windows of `window` steps so the points are readable).
 */
export function depthSeries(
  s: ScheduleConfig,
  L: number,
  T: number,
  seed: number,
  window = 25,
): { t: number[]; expected: number[]; sampled: number[] } {
  const rng = new Rng(seed);
  const t: number[] = [];
  const expected: number[] = [];
  const sampled: number[] = [];
  for (let start = 0; start < T; start += window) {
    let run = 0;
    let n = 0;
    for (let x = start; x < Math.min(T, start + window); x++, n++)
      run += sampleGates(s, L, x, rng).keep.filter(Boolean).length;
    const mid = start + (n - 1) / 2;
    t.push(mid);
    sampled.push(run / n);
    expected.push(expectedBlocks(s, L, thetaAt(s, mid)));
  }
  return { t, expected, sampled };
}

/** Fraction of block compute saved over a whole run of T steps (1 − mean E[fraction run]). */
export function computeSaved(s: ScheduleConfig, L: number, T: number): number {
  let sum = 0;
  for (let x = 0; x < T; x++) sum += expectedBlocks(s, L, thetaAt(s, x)) / L;
  return 1 - sum / T;
}
