/**
 * Learning-rate schedule: linear warmup to the peak, then linear decay to zero at `totalSteps`
 * (BERT's schedule; the paper warms up over 2 % of training for PLD runs).
 */
export interface LrSchedule {
  peak: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate for optimizer step t (0-based). */
export function learningRate(s: LrSchedule, t: number): number {
  if (t < s.warmupSteps) return (s.peak * (t + 1)) / s.warmupSteps;
  const left = Math.max(0, s.totalSteps - t);
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  return (s.peak * left) / span;
}
