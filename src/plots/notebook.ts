/**
 * Display helpers for tslab notebooks.
 *
 * `showFigure` emits ONE output carrying both `application/vnd.plotly.v1+json` (interactive in
 * JupyterLab) and `image/png` (rendered by headless Chromium; what GitHub, nbconvert HTML and
 * Notebook 6 show). Without Chromium the PNG is replaced by a `text/html` note. With
 * PLD_FIGURES_DIR set (`npm run figures` sets it) the figure is also written there as
 * `<name>.png/.svg/.html`.
 *
 * tslab's public `display.raw(mime, data)` sends one mime type per output, so the bundle goes
 * through the kernel's own display writer (`lastWriteDisplayData` in tslab/dist/jupyter), found in
 * the module cache so the kernel's tslab instance is used whichever copy it is. Outside a kernel
 * (plain node) the text/plain line is printed instead.
 */
import * as path from 'path';
import { DEFAULT_FORMATS, ExportFormat, haveChromium, chromiumPath, closeExporter, exportFigure, withExporter } from './export';
import { Figure } from './types';
import { markdownCell, renderMarkdownTable } from '../util/tables';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

interface DisplayData {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient: Record<string, unknown>;
}
type DisplayWriter = (d: DisplayData, update: boolean) => void;

/** The running tslab kernel's display writer, or null outside a kernel. */
function kernelWriter(): DisplayWriter | null {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file) || !mod) continue;
    const w = (mod.exports as { lastWriteDisplayData?: DisplayWriter | null }).lastWriteDisplayData;
    if (typeof w === 'function') return w;
  }
  return null;
}

/** Sends one output with several mime types (falls back to printing text/plain outside tslab). */
export function displayBundle(data: Record<string, unknown>, metadata: Record<string, unknown> = {}): void {
  const w = kernelWriter();
  if (w) return w({ data, metadata, transient: {} }, false);
  const text = data['text/plain'];
  if (typeof text === 'string') console.log(text);
}

export interface ShowFigureOptions {
  /** File name (no extension) under PLD_FIGURES_DIR; default: a slug of the title. */
  name?: string;
  /** Rendered size in pixels (default: the figure's layout size). */
  width?: number;
  height?: number;
  /** Formats written under PLD_FIGURES_DIR (default png, svg, html). */
  formats?: ExportFormat[];
}

/** A file-name slug of a figure's title. */
export function figureSlug(fig: Figure): string {
  const t = (fig.layout.title?.text ?? 'figure').toLowerCase().replace(/<[^>]*>/g, '');
  return t.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'figure';
}

let warnedNoChromium = false;

/**
 * Shows a figure inline (Plotly JSON + PNG in one output) and, under PLD_FIGURES_DIR, writes
 * `<name>.png/.svg/.html`. `opts` may be just the name: `await showFigure(fig, 'gradient-norms')`.
 */
export async function showFigure(fig: Figure, opts: string | ShowFigureOptions = {}): Promise<void> {
  const o: ShowFigureOptions = typeof opts === 'string' ? { name: opts } : opts;
  const name = o.name ?? figureSlug(fig);
  const width = o.width ?? fig.layout.width ?? 760;
  const height = o.height ?? fig.layout.height ?? 460;
  const title = fig.layout.title?.text ?? '';
  const data: Record<string, unknown> = {
    [PLOTLY_MIME]: { data: fig.data, layout: { ...fig.layout, width, height } },
    'text/plain': `<figure ${name}${title ? `: ${title}` : ''}>`,
  };
  const metadata: Record<string, unknown> = {};
  if (haveChromium()) {
    const png = await withExporter((e) => e.render(fig, 'png', { width, height }));
    data['image/png'] = png.toString('base64');
    metadata['image/png'] = { width, height };
  } else {
    data['text/html'] = `<p><em>${name}</em>: interactive Plotly figure (open in JupyterLab); no static image because headless Chromium was not found at ${chromiumPath()} (run <code>bash scripts/setup.sh</code>).</p>`;
    if (!warnedNoChromium) console.log(`showFigure: headless Chromium not found at ${chromiumPath()}; figures are shown without a PNG fallback`);
    warnedNoChromium = true;
  }
  displayBundle(data, metadata);
  const dir = process.env.PLD_FIGURES_DIR;
  if (dir) await exportFigure(fig, path.join(path.resolve(dir), name), { formats: o.formats ?? DEFAULT_FORMATS, width, height });
}

/** Closes the shared headless browser (the last cell of a notebook calls this; it also closes itself when idle). */
export async function closeFigures(): Promise<void> {
  await closeExporter();
}

/** Shows Markdown (text/markdown, with the source as text/plain). */
export function showMarkdown(md: string): void {
  displayBundle({ 'text/markdown': md, 'text/plain': md });
}

export type TableRow = Record<string, string | number | boolean | null | undefined>;

function cellText(v: TableRow[string], digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2);
  return String(v);
}

function columns(rows: TableRow[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}

/** A Markdown table of plain rows (numbers to `digits` decimals; columns from all rows). */
export function markdownRows(rows: TableRow[], digits = 3): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns(rows);
  return renderMarkdownTable(cols.map(markdownCell), rows.map((r) => cols.map((c) => markdownCell(cellText(r[c], digits)))));
}

/** The same table as HTML (numbers right-aligned). */
export function htmlRows(rows: TableRow[], digits = 3): string {
  const cols = columns(rows);
  const esc = (s: string): string => s.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
  const td = (v: TableRow[string]): string => `<td style="text-align:${typeof v === 'number' ? 'right' : 'left'}">${esc(cellText(v, digits))}</td>`;
  return `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${cols.map((c) => td(r[c])).join('')}</tr>`).join('')}</tbody></table>`;
}

/** Shows a table of plain rows: HTML, Markdown and plain text in one output. */
export function showTable(rows: TableRow[], digits = 3): void {
  const md = markdownRows(rows, digits);
  displayBundle(rows.length ? { 'text/html': htmlRows(rows, digits), 'text/markdown': md, 'text/plain': md } : { 'text/plain': md });
}
