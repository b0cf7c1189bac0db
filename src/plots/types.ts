/** Minimal Plotly figure types: plain data + layout objects, the JSON Plotly.js renders. */
export interface Trace {
  type: 'scatter' | 'bar' | 'heatmap';
  name?: string;
  x?: (number | string)[];
  y?: (number | string | null)[];
  z?: number[][];
  mode?: 'lines' | 'markers' | 'lines+markers';
  line?: { color?: string; dash?: 'solid' | 'dash' | 'dot'; width?: number };
  marker?: { color?: string; size?: number; opacity?: number };
  error_y?: { type: 'data'; array: number[]; visible: boolean };
  colorscale?: string;
  colorbar?: { title?: { text: string } };
  xaxis?: string;
  yaxis?: string;
  showlegend?: boolean;
  legendgroup?: string;
  hovertemplate?: string;
}

export interface Axis {
  title?: { text: string };
  type?: 'linear' | 'log';
  domain?: [number, number];
  anchor?: string;
  range?: [number, number];
  dtick?: number;
}

export interface Layout {
  title?: { text: string };
  xaxis?: Axis;
  yaxis?: Axis;
  xaxis2?: Axis;
  yaxis2?: Axis;
  barmode?: 'group' | 'stack';
  template?: string;
  width?: number;
  height?: number;
  font?: { family?: string; size?: number };
  legend?: { orientation?: 'h' | 'v'; x?: number; y?: number };
  margin?: { l?: number; r?: number; t?: number; b?: number };
  annotations?: { text: string; x: number; y: number; xref: string; yref: string; showarrow: boolean; font?: { size?: number } }[];
  shapes?: { type: 'line'; x0: number; x1: number; y0: number; y1: number; xref?: string; yref?: string; line?: { dash?: string; color?: string } }[];
}

export interface Figure {
  data: Trace[];
  layout: Layout;
}
