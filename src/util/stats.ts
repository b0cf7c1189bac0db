/**
 * Summary statistics shared by fine-tuning summaries, the benchmarks, the notebooks and GLUE scores.
 * An empty list gives NaN.
 */

/** Arithmetic mean (summed left to right). */
export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator, numpy's `ddof=1`); 0 for fewer than two values. */
export function std(xs: ArrayLike<number>): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/**
 * The q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics, numpy's default
 * (`np.quantile(xs, q)`, method 'linear'): position q·(n − 1) in the sorted values.
 */
export function quantile(xs: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be in [0, 1], got ${q}`);
  const a = Array.from(xs).sort((p, r) => p - r);
  const pos = q * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return lo === hi ? a[lo] : a[lo] + (pos - lo) * (a[hi] - a[lo]);
}

/** Median (the mean of the two middle values for an even count). */
export function median(xs: ArrayLike<number>): number {
  const a = Array.from(xs).sort((p, q) => p - q);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** Interquartile range: the 0.75 quantile minus the 0.25 quantile (numpy's linear method). */
export function iqr(xs: ArrayLike<number>): number {
  return quantile(xs, 0.75) - quantile(xs, 0.25);
}
