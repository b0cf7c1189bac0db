/**
 * Figure builders: plain Plotly figures from plain data, shared by notebooks and scripts.
 * One colour per variant throughout the kit.
 */
import { Axis, Figure, Layout, Trace } from './types';

export const VARIANT_COLORS: Record<string, string> = {
  postln: '#d62728',
  preln: '#1f77b4',
  'preln-pld': '#2ca02c',
  PostLN: '#d62728',
  PreLN: '#1f77b4',
  'PreLN+PLD': '#2ca02c',
};

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function base(title: string, x: string, y: string, extra: Partial<Layout> = {}): Layout {
  return {
    title: { text: title },
    template: 'plotly_white',
    font: { family: 'Arial, sans-serif', size: 13 },
    width: 760,
    height: 460,
    xaxis: { title: { text: x } },
    yaxis: { title: { text: y } },
    margin: { l: 70, r: 30, t: 60, b: 60 },
    ...extra,
  };
}

const axis = (a: Axis): Axis => a;

/** Paper Figure 1: gradient norm of each block, one line per recorded step, PostLN beside PreLN. */
export function gradNormFigure(runs: { label: string; steps: number[]; norms: number[][] }[]): Figure {
  const data: Trace[] = [];
  runs.forEach((r, k) => {
    r.steps.forEach((step, i) => {
      const shade = r.steps.length > 1 ? 0.35 + (0.65 * i) / (r.steps.length - 1) : 1;
      data.push({
        type: 'scatter',
        mode: 'lines+markers',
        name: `${r.label}, step ${step}`,
        legendgroup: r.label,
        x: r.norms[i].map((_, b) => b + 1),
        y: r.norms[i],
        line: { color: VARIANT_COLORS[r.label] ?? PALETTE[k], width: 1 + shade },
        marker: { size: 5, opacity: shade },
        xaxis: k === 0 ? 'x' : 'x2',
        yaxis: k === 0 ? 'y' : 'y2',
      });
    });
  });
  const layout = base('Gradient norm of each block during training (paper Fig. 1)', 'block (1 = nearest the input)', 'gradient L2 norm', {
    width: 900,
    xaxis: axis({ title: { text: `${runs[0]?.label ?? ''}: block` }, domain: [0, 0.46], dtick: 1 }),
    xaxis2: axis({ title: { text: `${runs[1]?.label ?? ''}: block` }, domain: [0.54, 1], anchor: 'y2', dtick: 1 }),
    yaxis: axis({ title: { text: 'gradient L2 norm' }, type: 'log' }),
    yaxis2: axis({ type: 'log', anchor: 'x2' }),
  });
  return { data, layout };
}

/** θ(t) for several (θ̄, γ), with optional sampled values over the analytic curve. */
export function thetaFigure(curves: { label: string; t: number[]; theta: number[] }[], sampled?: { label: string; t: number[]; value: number[] }): Figure {
  const data: Trace[] = curves.map((c, i) => ({ type: 'scatter', mode: 'lines', name: c.label, x: c.t, y: c.theta, line: { color: PALETTE[i % PALETTE.length] } }));
  if (sampled) data.push({ type: 'scatter', mode: 'markers', name: sampled.label, x: sampled.t, y: sampled.value, marker: { size: 4, color: '#444', opacity: 0.6 } });
  return { data, layout: base('Temporal schedule θ(t) = (1 − θ̄)·exp(−γt) + θ̄', 'optimizer step t', 'θ(t)', { yaxis: { title: { text: 'θ(t)' }, range: [0, 1.05] } }) };
}

/** Keep probability p_l(t) over blocks and time. */
export function keepProbHeatmap(h: { t: number[]; blocks: number; p: number[][]; title?: string }): Figure {
  return {
    data: [{ type: 'heatmap', x: h.t, y: Array.from({ length: h.blocks }, (_, i) => i + 1), z: h.p, colorscale: 'Viridis', colorbar: { title: { text: 'p_l(t)' } } }],
    layout: base(h.title ?? 'Keep probability p_l(t) = 1 − (l/L)(1 − θ(t))', 'optimizer step t', 'block l', { yaxis: { title: { text: 'block l' }, dtick: 1 } }),
  };
}

/** Expected blocks run over training, analytic lines and sampled points per schedule. */
export function expectedDepthFigure(series: { label: string; t: number[]; expected: number[]; sampled?: number[] }[], blocks: number): Figure {
  const data: Trace[] = [];
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    data.push({ type: 'scatter', mode: 'lines', name: `${s.label}: E[blocks run]`, x: s.t, y: s.expected, line: { color } });
    if (s.sampled) data.push({ type: 'scatter', mode: 'markers', name: `${s.label}: sampled`, x: s.t, y: s.sampled, marker: { color, size: 4, opacity: 0.5 } });
  });
  return { data, layout: base(`Blocks run per step (L = ${blocks})`, 'optimizer step t', 'blocks run', { yaxis: { title: { text: 'blocks run' }, range: [0, blocks + 0.5] } }) };
}

/** Per-block keep probability, one line per form (paper vs DeepSpeed), sampling and rescale. */
export function depthRuleFigure(rows: { label: string; p: number[]; dash?: 'solid' | 'dash' | 'dot' }[]): Figure {
  return {
    data: rows.map((r, i) => ({ type: 'scatter', mode: 'lines+markers', name: r.label, x: r.p.map((_, b) => b + 1), y: r.p, line: { color: PALETTE[i % PALETTE.length], dash: r.dash ?? 'solid' } })),
    layout: base('Keep probability by block: the paper vs DeepSpeed', 'block l', 'probability', { xaxis: { title: { text: 'block l' }, dtick: 1 } }),
  };
}

export interface CurveSeries {
  label: string;
  x: number[];
  y: number[];
  dash?: 'solid' | 'dash' | 'dot';
}

/** Generic line chart (loss vs steps, loss vs seconds, time per sample). */
export function lineFigure(title: string, xTitle: string, yTitle: string, series: CurveSeries[], opts: { logY?: boolean } = {}): Figure {
  return {
    data: series.map((s, i) => ({ type: 'scatter', mode: 'lines', name: s.label, x: s.x, y: s.y, line: { color: VARIANT_COLORS[s.label.split(' ')[0]] ?? PALETTE[i % PALETTE.length], dash: s.dash ?? 'solid' } })),
    layout: base(title, xTitle, yTitle, { yaxis: { title: { text: yTitle }, type: opts.logY ? 'log' : 'linear' } }),
  };
}

/** Bar chart with optional error bars, grouped by series. */
export function barFigure(title: string, yTitle: string, categories: string[], series: { label: string; values: number[]; errors?: number[] }[]): Figure {
  return {
    data: series.map((s, i) => ({
      type: 'bar',
      name: s.label,
      x: categories,
      y: s.values,
      marker: { color: VARIANT_COLORS[s.label] ?? PALETTE[i % PALETTE.length] },
      ...(s.errors ? { error_y: { type: 'data' as const, array: s.errors, visible: true } } : {}),
    })),
    layout: base(title, '', yTitle, { barmode: 'group' }),
  };
}

/** Fine-tuning scores per task and model, mean ± std over seeds, beside the trivial baseline. */
export function finetuneFigure(rows: { task: string; variant: string; mean: number; std: number }[], baseline?: Record<string, number>): Figure {
  const tasks = [...new Set(rows.map((r) => r.task))];
  const variants = [...new Set(rows.map((r) => r.variant))];
  const series = variants.map((v) => ({
    label: v,
    values: tasks.map((t) => rows.find((r) => r.task === t && r.variant === v)?.mean ?? 0),
    errors: tasks.map((t) => rows.find((r) => r.task === t && r.variant === v)?.std ?? 0),
  }));
  if (baseline) series.push({ label: 'majority / mean baseline', values: tasks.map((t) => baseline[t] ?? 0), errors: tasks.map(() => 0) });
  return barFigure('Fine-tuning: dev score by task (mean ± std over seeds)', 'score (×100)', tasks, series);
}
