/**
 * Figure builders: plain Plotly figures from plain typed data, shared by notebooks and scripts.
 * One style throughout: white background, light grid, one colour per variant (PostLN red, PreLN
 * blue, PreLN+PLD green), axis titles with units.
 */
import { Axis, Dash, Figure, Layout, Trace } from './types';
import { CONSTANT_BASELINE_LABEL } from '../finetune/finetune';
import { LossCurve, TARGET_OFFSETS, sameLossSpeedup, timeToTargets } from '../experiments/analysis';

export const VARIANT_COLORS = { PostLN: '#d62728', PreLN: '#1f77b4', 'PreLN+PLD': '#2ca02c' } as const;

/** Colours for series that are not variants (schedules, learning rates, sampled points). */
export const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

export const FONT_FAMILY = 'Liberation Sans, Arial, DejaVu Sans, sans-serif';

/**
 * The variant colour for a label such as 'PostLN', 'preln-pld', 'PreLN+PLD lr 0.001' or
 * 'PostLN (baseline)'; `fallback` (a palette colour) for anything else.
 */
export function variantColor(label: string, fallback = PALETTE[7]): string {
  const k = label.toLowerCase().replace(/[\s_]+/g, '');
  if (/^preln(\+|-)?pld|^pld/.test(k)) return VARIANT_COLORS['PreLN+PLD'];
  if (k.startsWith('postln')) return VARIANT_COLORS.PostLN;
  if (k.startsWith('preln')) return VARIANT_COLORS.PreLN;
  return fallback;
}

const GRID = '#e6e6e6';

/** A styled axis: titles carry units, light grid, a line on the data side. */
export function styledAxis(title: string, extra: Axis = {}): Axis {
  return {
    title: { text: title },
    showgrid: true,
    gridcolor: GRID,
    zeroline: false,
    showline: true,
    linecolor: '#444',
    ticks: 'outside',
    automargin: true,
    ...extra,
  };
}

/** The kit's base layout: title, axis titles, fonts, size, legend. */
export function baseLayout(title: string, xTitle: string, yTitle: string, extra: Layout = {}): Layout {
  return {
    title: { text: title, x: 0.02, font: { size: 16 } },
    font: { family: FONT_FAMILY, size: 13, color: '#222' },
    paper_bgcolor: '#ffffff',
    plot_bgcolor: '#ffffff',
    colorway: PALETTE,
    width: 760,
    height: 460,
    margin: { l: 70, r: 30, t: 60, b: 60 },
    hovermode: 'closest',
    xaxis: styledAxis(xTitle),
    yaxis: styledAxis(yTitle),
    ...extra,
  };
}

/** Layout fragment: a horizontal legend under the plot (for long series labels). */
export const LEGEND_BELOW: Layout = {
  legend: {
    orientation: 'h',
    xref: 'container',
    yref: 'container',
    x: 0.02,
    y: 0.02,
    xanchor: 'left',
    yanchor: 'bottom',
  },
  height: 560,
  margin: { l: 70, r: 30, t: 60, b: 150 },
};

/**
 * Side-by-side subplots: axis ids and layout entries for `n` panels sharing the y range
 * (`matches`), with each panel titled by an annotation above it.
 */
function panels(
  n: number,
  titles: string[],
  xTitle: string,
  yTitle: string,
  y: Axis = {},
): { ids: { x: string; y: string }[]; layout: Layout } {
  const gap = n > 1 ? 0.08 : 0;
  const w = (1 - gap * (n - 1)) / n;
  const layout: Layout = { annotations: [] };
  const ids = Array.from({ length: n }, (_, i) => {
    const s = i === 0 ? '' : String(i + 1);
    const domain: [number, number] = [i * (w + gap), i * (w + gap) + w];
    layout[`xaxis${s}` as 'xaxis'] = styledAxis(xTitle, { domain, anchor: `y${s}` });
    layout[`yaxis${s}` as 'yaxis'] = styledAxis(i === 0 ? yTitle : '', {
      anchor: `x${s}`,
      ...(i > 0 ? { matches: 'y' } : {}),
      ...y,
    });
    layout.annotations?.push({
      text: `<b>${titles[i] ?? ''}</b>`,
      x: (domain[0] + domain[1]) / 2,
      y: 1.0,
      xref: 'paper',
      yref: 'paper',
      showarrow: false,
      xanchor: 'center',
      yanchor: 'bottom',
    });
    return { x: `x${s}`, y: `y${s}` };
  });
  return { ids, layout };
}

/** Light-to-dark shade of a hex colour for the i-th of n ordered series (early steps lighter). */
function shade(hex: string, i: number, n: number): string {
  const f = n > 1 ? 0.65 * (1 - i / (n - 1)) : 0; // mix with white
  const c = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  return `rgb(${c.map((v) => Math.round(v + (255 - v) * f)).join(',')})`;
}

/**
 * A log axis whose labels read as numbers: over two decades or more, only the decades are labelled
 * (10⁻³, 10⁻², …); over one to two decades 1, 2 and 5 × 10^n are, as full numbers (0.2, 0.5, 1);
 * within one decade every 1…9 × 10^n is (0.4, 0.5, 0.6).
 * Plotly's default labels the ticks between decades with bare mantissas ("2 3 4 5"), which read as
 * noise; here the other ticks between labels are unlabelled minor ticks.
 */
export function logAxis(values: number[]): Axis {
  const pos = values.filter((v) => Number.isFinite(v) && v > 0);
  const decades = pos.length ? Math.log10(Math.max(...pos)) - Math.log10(Math.min(...pos)) : 0;
  const minor = { ticks: 'outside' as const, ticklen: 3, dtick: 'D1' as const, showgrid: false };
  if (decades >= 2) return { type: 'log', dtick: 1, exponentformat: 'power', minor };
  return decades >= 1
    ? { type: 'log', dtick: 'D2', tickformat: '~g', minor }
    : { type: 'log', dtick: 'D1', tickformat: '~g' };
}

const blockAxis = (n: number[]): number[] => n.map((_, b) => b + 1);

/**
 * Paper Figure 1: the gradient norm of each block (1 = nearest the input) at several training
 * steps, one panel per variant (PostLN beside PreLN), log y, later steps darker.
 */
export function gradNormFigure(runs: { label: string; steps: number[]; norms: number[][] }[]): Figure {
  const norms = runs.flatMap((r) => r.norms.flat());
  const { ids, layout } = panels(
    runs.length,
    runs.map((r) => r.label),
    'block index l (1 = input side)',
    'gradient L2 norm (log scale)',
    logAxis(norms),
  );
  const data: Trace[] = runs.flatMap((r, k) =>
    r.steps.map((step, i): Trace => ({
      type: 'scatter',
      mode: 'lines+markers',
      name: `${r.label}, step ${step}`,
      legendgroup: r.label,
      x: blockAxis(r.norms[i]),
      y: r.norms[i],
      line: { color: shade(variantColor(r.label, PALETTE[k]), i, r.steps.length), width: 2 },
      marker: { size: 5 },
      xaxis: ids[k].x,
      yaxis: ids[k].y,
      hovertemplate: `${r.label}, step ${step}<br>block %{x}: %{y:.3g}<extra></extra>`,
    })),
  );
  return {
    data,
    layout: {
      ...baseLayout('Gradient norm per block during training (paper Fig. 1)', '', '', {
        width: 980,
        height: 480,
        margin: { l: 80, r: 30, t: 90, b: 60 },
      }),
      ...layout,
    },
  };
}

/** θ(t) curves for several (θ̄, γ), with optional sampled values (e.g. blocks run / L) overlaid. */
export function thetaFigure(
  curves: { label: string; t: number[]; theta: number[] }[],
  sampled?: { label: string; t: number[]; value: number[] },
): Figure {
  const data: Trace[] = curves.map((c, i) => ({
    type: 'scatter',
    mode: 'lines',
    name: c.label,
    x: c.t,
    y: c.theta,
    line: { color: PALETTE[i % PALETTE.length], width: 2 },
  }));
  if (sampled)
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: sampled.label,
      x: sampled.t,
      y: sampled.value,
      marker: { size: 5, color: '#444', opacity: 0.6 },
    });
  return {
    data,
    layout: baseLayout(
      'Temporal schedule θ(t) = (1 − θ̄)·exp(−γt) + θ̄',
      'optimizer step t',
      'θ(t) (fraction of depth kept)',
      { ...LEGEND_BELOW, yaxis: styledAxis('θ(t) (fraction of depth kept)', { range: [0, 1.05] }) },
    ),
  };
}

/** Keep probability p_l(t) as a heat map: `p[block][timeIndex]`, steps on x, blocks (1 = input side) on y. */
export function keepProbHeatmap(h: { t: number[]; blocks: number; p: number[][]; title?: string }): Figure {
  return {
    data: [
      {
        type: 'heatmap',
        x: h.t,
        y: Array.from({ length: h.blocks }, (_, i) => i + 1),
        z: h.p,
        zmin: 0,
        zmax: 1,
        colorscale: 'Viridis',
        colorbar: { title: { text: 'p_l(t)' } },
        hovertemplate: 'step %{x}<br>block %{y}: p = %{z:.3f}<extra></extra>',
      },
    ],
    layout: baseLayout(
      h.title ?? 'Keep probability p_l(t) = 1 − (l/L)·(1 − θ(t))',
      'optimizer step t',
      'block index l (1 = input side)',
      {
        xaxis: styledAxis('optimizer step t', { showgrid: false }),
        yaxis: styledAxis('block index l (1 = input side)', { dtick: 1, showgrid: false }),
      },
    ),
  };
}

/**
 * Expected number of blocks run per step (analytic lines, one per schedule) with optional sampled
 * points in the same colour; the legend names each schedule once.
 */
export function expectedDepthFigure(
  series: { label: string; t: number[]; expected: number[]; sampled?: number[] }[],
  blocks: number,
): Figure {
  const data: Trace[] = series.flatMap((s, i): Trace[] => {
    const color = PALETTE[i % PALETTE.length];
    const line: Trace = {
      type: 'scatter',
      mode: 'lines',
      name: s.label,
      legendgroup: s.label,
      x: s.t,
      y: s.expected,
      line: { color, width: 2 },
    };
    return s.sampled
      ? [
          line,
          {
            type: 'scatter',
            mode: 'markers',
            name: `${s.label}: sampled`,
            legendgroup: s.label,
            showlegend: false,
            x: s.t,
            y: s.sampled,
            marker: { color, size: 5, opacity: 0.5 },
          },
        ]
      : [line];
  });
  const what = series.some((s) => s.sampled) ? ': expected (lines) and sampled (points)' : '';
  return {
    data,
    layout: baseLayout(`Blocks run per step (L = ${blocks})${what}`, 'optimizer step t', 'blocks run per step', {
      ...LEGEND_BELOW,
      yaxis: styledAxis('blocks run per step', { range: [0, blocks + 0.5] }),
    }),
  };
}

/** Per-block probabilities under two rules (the paper's vs DeepSpeed's): one line each. */
export function depthRuleFigure(
  rows: { label: string; p: number[]; dash?: Dash }[],
  title = 'Keep probability by block: the paper vs DeepSpeed',
): Figure {
  return {
    data: rows.map((r, i) => ({
      type: 'scatter',
      mode: 'lines+markers',
      name: r.label,
      x: blockAxis(r.p),
      y: r.p,
      line: { color: PALETTE[i % PALETTE.length], dash: r.dash ?? 'solid', width: 2 },
    })),
    layout: baseLayout(title, 'block index l (1 = input side)', 'probability', {
      ...LEGEND_BELOW,
      xaxis: styledAxis('block index l (1 = input side)', { dtick: 1 }),
      yaxis: styledAxis('probability', { range: [0, 1.05] }),
    }),
  };
}

export interface CurveSeries {
  label: string;
  x: number[];
  y: number[];
  dash?: Dash;
}

const DASHES: Dash[] = ['solid', 'dash', 'dot', 'dashdot'];

/**
 * Generic line chart; series named after a variant get its colour, and further series of the same
 * colour (e.g. one variant at several learning rates) get dashed, dotted, … lines unless `dash` is set.
 */
export function lineFigure(
  title: string,
  xTitle: string,
  yTitle: string,
  series: CurveSeries[],
  opts: { logY?: boolean } = {},
): Figure {
  const uses = new Map<string, number>();
  return {
    data: series.map((s, i) => {
      const color = variantColor(s.label, PALETTE[i % PALETTE.length]);
      const n = uses.get(color) ?? 0;
      uses.set(color, n + 1);
      return {
        type: 'scatter',
        mode: 'lines',
        name: s.label,
        x: s.x,
        y: s.y,
        line: { color, dash: s.dash ?? DASHES[n % DASHES.length], width: 2 },
      };
    }),
    layout: baseLayout(title, xTitle, yTitle, {
      yaxis: styledAxis(yTitle, opts.logY ? logAxis(series.flatMap((s) => s.y)) : { type: 'linear' }),
    }),
  };
}

/** Grouped bar chart with optional error bars and bar labels; series named after a variant get its colour. */
export function barFigure(
  title: string,
  yTitle: string,
  categories: string[],
  series: { label: string; values: (number | null)[]; errors?: number[]; text?: string[] }[],
  xTitle = '',
): Figure {
  return {
    data: series.map((s, i) => ({
      type: 'bar',
      name: s.label,
      x: categories,
      y: s.values,
      marker: {
        color:
          series.length === 1
            ? categories.map((c, j) => variantColor(c, PALETTE[j % PALETTE.length]))
            : variantColor(s.label, PALETTE[i % PALETTE.length]),
      },
      ...(s.errors
        ? { error_y: { type: 'data' as const, array: s.errors, visible: true, thickness: 1.5, width: 4 } }
        : {}),
      ...(s.text ? { text: s.text, textposition: 'outside' as const } : {}),
      showlegend: series.length > 1,
    })),
    layout: baseLayout(title, xTitle, yTitle, { barmode: 'group', xaxis: styledAxis(xTitle, { showgrid: false }) }),
  };
}

const REFERENCE_COLOR = '#7f7f7f';

type Axes = { xaxis?: string; yaxis?: string; showlegend?: boolean };

/** A labelled horizontal reference trace over [x0, x1] (the lines of src/train/reference.ts). */
function referenceLine(
  level: number,
  x0: number,
  x1: number,
  axes: Axes,
  r: { name: string; group: string; dash: Dash; hover: string },
): Trace {
  return {
    type: 'scatter',
    mode: 'lines',
    name: `${r.name} (${level.toFixed(2)})`,
    legendgroup: r.group,
    x: [x0, x1],
    y: [level, level],
    line: { color: REFERENCE_COLOR, dash: r.dash, width: 1.5 },
    hovertemplate: `${r.hover}: ${level.toFixed(3)}<extra></extra>`,
    ...axes,
  };
}

/** The unigram line: the validation loss of a model that ignores context. */
export function unigramLine(unigramLoss: number, x0: number, x1: number, axes: Axes = {}): Trace {
  return referenceLine(unigramLoss, x0, x1, axes, {
    name: 'unigram model, no context',
    group: 'unigram',
    dash: 'dash',
    hover: 'unigram cross-entropy of the validation split',
  });
}

/** The input-copy line (`copyScore`): a model ignoring context but copying its own input; below it, context is used. */
export function copyLine(copyLoss: number, x0: number, x1: number, axes: Axes = {}): Trace {
  return referenceLine(copyLoss, x0, x1, axes, {
    name: 'input copy, no context',
    group: 'copy',
    dash: 'dot',
    hover: 'best context-free model that copies its own input',
  });
}

/** One pretraining run, as the speedup figures need it (plain arrays, aligned by index). */
export interface SpeedupRun {
  label: string;
  /** Training time per sample over training (smoothed), and optionally the ideal for this run. */
  timePerSample: { step: number[]; ms: number[]; idealMs?: number[] };
  /** Validation evaluations: step, training seconds so far (evaluation excluded), loss. */
  evals: LossCurve;
}

export interface SpeedupFigures {
  timePerSample: Figure;
  lossVsSteps: Figure;
  lossVsTime: Figure;
  timeToLoss: Figure;
}

/**
 * The paper's §5.1–5.2 figures: time per sample (measured, and the ideal where given), validation
 * loss against steps and against training seconds (with the unigram line when `unigramLoss` is
 * given), and time to quality. With `unigramLoss` and `pld`, time to quality is PLD's speedup over
 * every other run at each target of the ladder below the unigram line (TARGET_OFFSETS); without,
 * it is the time-to-same-loss speedup over `baseline` (default: the first run), i.e. the
 * baseline's seconds to reach its own final validation loss divided by each run's seconds.
 */
export function speedupFigures(
  runs: SpeedupRun[],
  opts: { baseline?: string; unigramLoss?: number; copyLoss?: number; pld?: string } = {},
): SpeedupFigures {
  const color = (r: SpeedupRun, i: number): string => variantColor(r.label, PALETTE[i % PALETTE.length]);
  const tps: Trace[] = runs.flatMap((r, i): Trace[] => {
    const measured: Trace = {
      type: 'scatter',
      mode: 'lines',
      name: `${r.label} (measured)`,
      x: r.timePerSample.step,
      y: r.timePerSample.ms,
      line: { color: color(r, i), width: 2 },
    };
    const ideal = r.timePerSample.idealMs;
    return ideal
      ? [
          measured,
          {
            type: 'scatter',
            mode: 'lines',
            name: `${r.label} (ideal)`,
            x: r.timePerSample.step,
            y: ideal,
            line: { color: color(r, i), dash: 'dash', width: 2 },
          },
        ]
      : [measured];
  });
  const loss = (x: 'step' | 'seconds'): Trace[] => {
    const curves: Trace[] = runs.map((r, i) => ({
      type: 'scatter',
      mode: 'lines+markers',
      name: r.label,
      x: r.evals[x],
      y: r.evals.valLoss,
      line: { color: color(r, i), width: 2 },
      marker: { size: 4 },
    }));
    const xs = runs.flatMap((r) => r.evals[x]);
    if (xs.length === 0) return curves;
    const x1 = Math.max(...xs);
    return [
      ...curves,
      ...(opts.unigramLoss === undefined ? [] : [unigramLine(opts.unigramLoss, 0, x1)]),
      ...(opts.copyLoss === undefined ? [] : [copyLine(opts.copyLoss, 0, x1)]),
    ];
  };
  const pld = opts.pld === undefined ? undefined : runs.find((r) => r.label === opts.pld);
  if (opts.pld !== undefined && !pld)
    throw new Error(`no run labelled '${opts.pld}'; runs: ${runs.map((r) => r.label).join(', ')}`);
  const figures = {
    timePerSample: {
      data: tps,
      layout: baseLayout('Training time per sample', 'optimizer step', 'time per sample (ms)'),
    },
    lossVsSteps: {
      data: loss('step'),
      layout: baseLayout('Validation MLM loss vs steps', 'optimizer step', 'validation MLM loss (nats/token)'),
    },
    lossVsTime: {
      data: loss('seconds'),
      layout: baseLayout(
        'Validation MLM loss vs training time',
        'training time (s)',
        'validation MLM loss (nats/token)',
      ),
    },
  };
  if (pld && opts.unigramLoss !== undefined)
    return { ...figures, timeToLoss: ladderFigure(runs, pld, opts.unigramLoss) };
  const base = runs.find((r) => r.label === opts.baseline) ?? runs[0];
  const target = base ? base.evals.valLoss[base.evals.valLoss.length - 1] : NaN;
  const speedups = runs.map((r) => (base ? sameLossSpeedup(base.evals, r.evals).speedup : null));
  const timeToLoss = barFigure(
    `Time to reach ${base?.label ?? 'the baseline'}'s final validation loss (${target.toFixed(3)})`,
    `speedup vs ${base?.label ?? 'baseline'} (×)`,
    runs.map((r) => r.label),
    [
      {
        label: 'speedup',
        values: speedups,
        text: speedups.map((s) => (s === null ? 'not reached' : `${s.toFixed(2)}×`)),
      },
    ],
  );
  return { ...figures, timeToLoss };
}

/** PLD's speedup over each other run at each target below the unigram line; unreached targets are labelled. */
function ladderFigure(runs: SpeedupRun[], pld: SpeedupRun, unigramLoss: number): Figure {
  const others = runs.filter((r) => r !== pld).map((r) => r.label);
  const rows = timeToTargets(
    Object.fromEntries(runs.map((r) => [r.label, r.evals])),
    pld.label,
    others,
    unigramLoss,
    TARGET_OFFSETS,
  );
  const categories = rows.map((r) => `−${r.belowUnigram} (${r.target.toFixed(2)})`);
  const fig = barFigure(
    `Time to quality: ${pld.label}'s speedup at each target below the unigram line (${unigramLoss.toFixed(2)})`,
    'speedup (×), training seconds to the target',
    categories,
    others.map((label) => {
      const values = rows.map((r) => r.speedup[label]);
      // An unreached target has no bar and no label (Plotly shrinks text on an empty bar to nothing); the notebook's table lists it.
      return { label: `over ${label}`, values, text: values.map((v) => (v === null ? '' : `${v.toFixed(2)}×`)) };
    }),
    'target validation loss: nats below the unigram line (target)',
  );
  // Without a single speedup the bars are empty: say why in the plot, with each run's lowest loss.
  if (rows.every((r) => Object.values(r.speedup).every((v) => v === null))) {
    const lowest = runs.map((r) => `${r.label} ${Math.min(...r.evals.valLoss).toFixed(2)}`).join(', ');
    fig.layout.annotations = [
      {
        text: `No speedup at any target: each is missed by ${pld.label} or by every other run.<br>Lowest validation loss: ${lowest}.`,
        x: 0.5,
        y: 0.5,
        xref: 'paper',
        yref: 'paper',
        showarrow: false,
        xanchor: 'center',
        yanchor: 'middle',
        font: { size: 14 },
      },
    ];
  }
  return fig;
}

/**
 * Learning-rate robustness (paper §5.2): training-loss curves at several peak learning rates, one
 * panel per variant; the same learning rate has the same colour in every panel.
 */
export function lrRobustnessFigure(
  curves: { variant: string; lr: number; step: number[]; loss: number[]; diverged?: boolean }[],
  yTitle = 'training MLM loss (nats/token)',
  opts: { unigramLoss?: number; caption?: string } = {},
): Figure {
  const variants = [...new Set(curves.map((c) => c.variant))];
  const lrs = [...new Set(curves.map((c) => c.lr))].sort((a, b) => a - b);
  const { ids, layout } = panels(variants.length, variants, 'optimizer step', yTitle);
  const seen = new Set<number>();
  const data: Trace[] = curves.map((c) => {
    const k = variants.indexOf(c.variant);
    const first = !seen.has(c.lr);
    seen.add(c.lr);
    return {
      type: 'scatter',
      mode: 'lines',
      name: `peak LR ${c.lr}`,
      legendgroup: String(c.lr),
      showlegend: first,
      x: c.step,
      y: c.loss,
      line: { color: PALETTE[lrs.indexOf(c.lr) % PALETTE.length], dash: c.diverged ? 'dot' : 'solid', width: 2 },
      xaxis: ids[k].x,
      yaxis: ids[k].y,
      hovertemplate: `${c.variant}, LR ${c.lr}${c.diverged ? ' (diverged)' : ''}<br>step %{x}: %{y:.3f}<extra></extra>`,
    };
  });
  if (opts.unigramLoss !== undefined) {
    const u = opts.unigramLoss;
    variants.forEach((v, k) => {
      const xs = curves.filter((c) => c.variant === v).flatMap((c) => c.step);
      if (xs.length)
        data.push(
          unigramLine(u, Math.min(...xs), Math.max(...xs), { xaxis: ids[k].x, yaxis: ids[k].y, showlegend: k === 0 }),
        );
    });
  }
  const caption = opts.caption === undefined ? undefined : wrapLines(opts.caption, 150);
  if (caption)
    layout.annotations?.push({
      text: caption,
      x: 0,
      y: -0.22,
      xref: 'paper',
      yref: 'paper',
      showarrow: false,
      xanchor: 'left',
      yanchor: 'top',
      align: 'left',
      font: { size: 12 },
    });
  return {
    data,
    layout: {
      ...baseLayout('Training loss at several peak learning rates (dotted: diverged)', '', '', {
        width: 980,
        height: caption ? 540 : 480,
        margin: { l: 80, r: 30, t: 90, b: caption ? 120 : 60 },
      }),
      ...layout,
    },
  };
}

/** Text broken into lines of at most `width` characters at spaces, joined with Plotly's <br>. */
export function wrapLines(text: string, width: number): string {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.join('<br>');
}

/**
 * Fine-tuning scores, grouped by task, one bar per model at its median over seeds with the
 * interquartile range as error bars, and an optional trivial-baseline bar.
 */
export function finetuneFigure(
  rows: { task: string; variant: string; median: number; q1: number; q3: number }[],
  baseline?: Record<string, number>,
): Figure {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const variants = [...new Set(rows.map((r) => r.variant))];
  const cell = (t: string, v: string) => rows.find((r) => r.task === t && r.variant === v);
  const series: { label: string; values: (number | null)[]; errors?: number[] }[] = variants.map((v) => ({
    label: v,
    values: tasks.map((t) => cell(t, v)?.median ?? null),
  }));
  if (baseline) series.push({ label: CONSTANT_BASELINE_LABEL, values: tasks.map((t) => baseline[t] ?? null) });
  const fig = barFigure(
    'Fine-tuning: dev score by task (median over seeds, bars: interquartile range)',
    'dev score (×100)',
    tasks,
    series,
    'task',
  );
  fig.data.forEach((t) => {
    if (t.name === CONSTANT_BASELINE_LABEL) t.marker = { color: '#b0b0b0' };
    if (t.name === 'random init (control)') t.marker = { color: '#7f7f7f' };
    const v = t.name === undefined ? undefined : variants.indexOf(t.name);
    if (v === undefined || v < 0) return;
    const up = tasks.map((k) => {
      const c = cell(k, variants[v]);
      return c ? c.q3 - c.median : 0;
    });
    const down = tasks.map((k) => {
      const c = cell(k, variants[v]);
      return c ? c.median - c.q1 : 0;
    });
    t.error_y = {
      type: 'data',
      array: up,
      arrayminus: down,
      symmetric: false,
      visible: true,
      thickness: 1.5,
      width: 4,
    };
  });
  return fig;
}

/** Most points a line trace keeps in a notebook output: ~one per horizontal pixel of a figure. */
export const MAX_LINE_POINTS = 600;

/**
 * The figure with each long line trace thinned to at most `max` points (every k-th, first and last
 * kept), so a 6000-step curve does not put megabytes of JSON into every notebook output. Markers,
 * bars and heatmaps, whose every point is a datum, are left whole.
 */
export function thinLines(fig: Figure, max = MAX_LINE_POINTS): Figure {
  const thin = (t: Trace): Trace => {
    const n = t.x?.length ?? 0;
    if (t.type !== 'scatter' || t.mode !== 'lines' || n <= max) return t;
    const k = Math.ceil(n / max);
    const keep = (_: unknown, i: number): boolean => i % k === 0 || i === n - 1;
    return { ...t, x: t.x?.filter(keep), y: t.y?.filter(keep) };
  };
  return { ...fig, data: fig.data.map(thin) };
}
