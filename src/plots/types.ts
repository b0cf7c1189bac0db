/**
 * Minimal Plotly figure types: the plain JSON (data + layout) that Plotly.js renders and that
 * JupyterLab's `application/vnd.plotly.v1+json` renderer reads. Only the fields the kit uses.
 */
export type Dash = 'solid' | 'dash' | 'dot' | 'dashdot';

export interface Font {
  family?: string;
  size?: number;
  color?: string;
}

export interface Trace {
  type: 'scatter' | 'bar' | 'heatmap';
  name?: string;
  x?: (number | string)[];
  y?: (number | string | null)[];
  z?: number[][];
  text?: string[];
  textposition?: 'auto' | 'outside' | 'inside' | 'none';
  mode?: 'lines' | 'markers' | 'lines+markers';
  line?: { color?: string; dash?: Dash; width?: number };
  marker?: { color?: string | string[]; size?: number; opacity?: number; symbol?: string };
  opacity?: number;
  /** `array` above each point, `arrayminus` below (symmetric when absent). */
  error_y?: {
    type: 'data';
    array: number[];
    arrayminus?: number[];
    symmetric?: boolean;
    visible: boolean;
    thickness?: number;
    width?: number;
  };
  colorscale?: string;
  zmin?: number;
  zmax?: number;
  colorbar?: { title?: { text: string } };
  xaxis?: string;
  yaxis?: string;
  showlegend?: boolean;
  legendgroup?: string;
  hovertemplate?: string;
}

export interface Axis {
  title?: { text: string; standoff?: number };
  type?: 'linear' | 'log';
  domain?: [number, number];
  anchor?: string;
  matches?: string;
  range?: [number, number];
  /** Linear: the step; log: 1 = every decade, 'D1' = 1…9 × 10^n, 'D2' = 1, 2, 5 × 10^n. */
  dtick?: number | 'D1' | 'D2';
  tickformat?: string;
  exponentformat?: 'none' | 'e' | 'E' | 'power' | 'SI' | 'B';
  /** Unlabelled minor ticks between the labelled ones. */
  minor?: {
    ticks?: '' | 'outside' | 'inside';
    ticklen?: number;
    dtick?: number | 'D1' | 'D2';
    showgrid?: boolean;
    gridcolor?: string;
  };
  showgrid?: boolean;
  gridcolor?: string;
  zeroline?: boolean;
  linecolor?: string;
  showline?: boolean;
  ticks?: '' | 'outside' | 'inside';
  mirror?: boolean;
  automargin?: boolean;
}

export interface Annotation {
  text: string;
  x: number;
  y: number;
  xref: string;
  yref: string;
  showarrow: boolean;
  xanchor?: 'left' | 'center' | 'right';
  yanchor?: 'top' | 'middle' | 'bottom';
  /** Alignment of the lines of a multi-line text. */
  align?: 'left' | 'center' | 'right';
  font?: Font;
}

export interface Shape {
  type: 'line';
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  xref?: string;
  yref?: string;
  line?: { dash?: Dash; color?: string; width?: number };
}

/** Layout; subplots beyond the first use `xaxis2`, `yaxis2`, … */
export interface Layout {
  title?: { text: string; font?: Font; x?: number };
  xaxis?: Axis;
  yaxis?: Axis;
  [axis: `xaxis${number}`]: Axis | undefined;
  [axis: `yaxis${number}`]: Axis | undefined;
  barmode?: 'group' | 'stack';
  bargap?: number;
  width?: number;
  height?: number;
  font?: Font;
  paper_bgcolor?: string;
  plot_bgcolor?: string;
  colorway?: string[];
  hovermode?: 'closest' | 'x unified' | 'x' | false;
  legend?: {
    orientation?: 'h' | 'v';
    x?: number;
    y?: number;
    xref?: 'paper' | 'container';
    yref?: 'paper' | 'container';
    xanchor?: 'left' | 'center' | 'right';
    yanchor?: 'top' | 'middle' | 'bottom';
    font?: Font;
  };
  margin?: { l?: number; r?: number; t?: number; b?: number };
  annotations?: Annotation[];
  shapes?: Shape[];
}

export interface Figure {
  data: Trace[];
  layout: Layout;
}
