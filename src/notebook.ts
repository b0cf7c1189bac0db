/**
 * Display helpers for tslab notebooks. A figure is shown as ONE output carrying both
 * `application/vnd.plotly.v1+json` (interactive in JupyterLab) and `image/png` (visible where no
 * Plotly renderer runs: GitHub, nbconvert HTML). With PLD_FIGURES_DIR set (the figures command sets
 * it) the figure is also written there as PNG, SVG and HTML.
 */
import * as path from 'path';
import { FigureExporter } from './plots/export';
import { Figure } from './plots/types';

interface DisplayBundle {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}

/** tslab's display channel (library boundary: tslab exposes single-mime `display.raw` publicly). */
function displayBundle(bundle: DisplayBundle): void {
  const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: ((d: DisplayBundle, update: boolean) => void) | null };
  if (jupyter.lastWriteDisplayData) return jupyter.lastWriteDisplayData(bundle, false);
  // Outside a kernel (a script): say where the figure went instead.
  const text = bundle.data['text/plain'];
  if (typeof text === 'string') console.log(text);
}

let exporter: Promise<FigureExporter> | null = null;

function getExporter(): Promise<FigureExporter> {
  if (!exporter) exporter = FigureExporter.launch();
  return exporter;
}

/** Closes the shared headless browser (the last cell of a notebook calls this). */
export async function closeFigures(): Promise<void> {
  if (exporter) await (await exporter).close();
  exporter = null;
}

/** Shows a figure inline and, under PLD_FIGURES_DIR, writes `<name>.png/.svg/.html`. */
export async function showFigure(fig: Figure, name: string): Promise<void> {
  const ex = await getExporter();
  const png = await ex.render(fig, 'png');
  displayBundle({
    data: {
      'application/vnd.plotly.v1+json': { data: fig.data, layout: fig.layout },
      'image/png': png.toString('base64'),
      'text/plain': `<figure ${name}: ${fig.layout.title?.text ?? ''}>`,
    },
    metadata: { 'image/png': { width: fig.layout.width ?? 760 } },
    transient: {},
  });
  const dir = process.env.PLD_FIGURES_DIR;
  if (dir) await ex.export(fig, path.join(dir, name));
}

export function showMarkdown(md: string): void {
  displayBundle({ data: { 'text/markdown': md, 'text/plain': md }, metadata: {}, transient: {} });
}

/** A table of plain rows as Markdown (numbers to `digits` places). */
export function markdownRows(rows: Record<string, string | number | null>[], digits = 3): string {
  if (rows.length === 0) return '(no rows)';
  const cols = Object.keys(rows[0]);
  const cell = (v: string | number | null): string => (v === null ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : v);
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cols.map((c) => cell(r[c])).join(' | ')} |`)].join('\n');
}

export function showTable(rows: Record<string, string | number | null>[], digits = 3): void {
  showMarkdown(markdownRows(rows, digits));
}
