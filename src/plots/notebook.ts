/**
 * Display helpers for tslab notebooks.
 *
 * `showFigure` emits one output the way plotly.py does, so the figure is interactive in classic
 * Notebook 6, JupyterLab 4 and nbconvert's HTML without any extension:
 *   - `application/vnd.plotly.v1+json`: the figure, for front ends with a Plotly renderer;
 *   - `text/html`: the PNG as an <img>, replaced by the interactive chart by a script that draws
 *     with plotly.js. Where scripts do not run (an untrusted notebook, GitHub's viewer) the HTML is
 *     sanitized and the <img> stays, so a static image is still seen;
 *   - `image/png` for exports that keep only images (nbconvert to PDF or Markdown);
 *   - `text/plain`: `<figure NAME: title>`.
 * plotly.js is inlined once per kernel session, in its own output before the first figure (the
 * same bytes on every run, so a re-executed notebook's diff does not show it); later figures use
 * it. Without Chromium the PNG is replaced by a note. With PLD_FIGURES_DIR set (`npm run figures`
 * sets it) the figure is also written there as `<name>.png/.svg/.html`.
 */
import * as path from 'path';
import { marked } from 'marked';
import {
  DEFAULT_FORMATS,
  ExportFormat,
  haveChromium,
  chromiumPath,
  closeExporter,
  exportFigure,
  plotlyBundle,
  plotlyVersion,
  withExporter,
} from './export';
import { displayBundle } from './display';
import { Figure } from './types';
import { thinLines } from './figures';
import { markdownCell, renderMarkdownTable } from '../util/tables';

export { displayBundle } from './display';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';

const escHtml = (s: string): string => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** The output that defines `window.Plotly` for the figures after it (skipped where it is already defined). */
export function plotlyLoaderBundle(): Record<string, string> {
  const what = `plotly.js ${plotlyVersion()} (cartesian bundle)`;
  return {
    'text/html': `<script type="text/javascript">/* ${what}, inlined once for this notebook's interactive figures */\nif (!window.Plotly) {\n${plotlyBundle()}\n}\n</script>`,
    'text/plain': `<${what} for the interactive figures below>`,
  };
}

/** A short, stable hash of a string (FNV-1a), so element ids do not change between runs of the same figure. */
function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * The HTML rendering of a figure: the PNG (or a note) in a box that a script replaces with the
 * interactive chart once plotly.js is there (it waits up to 10 s for the loader output to run).
 */
export function figureHtmlOutput(
  fig: Figure,
  name: string,
  o: { width: number; height: number; png: string | null; index: number },
): string {
  const spec = JSON.stringify({ data: fig.data, layout: { ...fig.layout, width: o.width, height: o.height } }).replace(
    /</g,
    '\\u003c',
  );
  const id = `pld-fig-${name.replace(/[^A-Za-z0-9_-]/g, '')}-${o.index}-${hash(spec)}`;
  const title = escHtml(fig.layout.title?.text?.replace(/<[^>]*>/g, '') ?? name);
  const still = o.png
    ? `<img src="data:image/png;base64,${o.png}" width="${o.width}" height="${o.height}" alt="${title}" style="max-width:100%;height:auto">`
    : `<p><em>${escHtml(name)}</em>: no static image because headless Chromium was not found at ${escHtml(chromiumPath())} (run <code>bash scripts/setup.sh</code>).</p>`;
  return `<div id="${id}" class="pld-figure" style="width:${o.width}px;max-width:100%">${still}</div>
<script type="text/javascript">
(function () {
  var fig = ${spec};
  var tries = 0;
  (function draw() {
    var el = document.getElementById(${JSON.stringify(id)});
    if (el && window.Plotly) {
      el.innerHTML = '';
      window.Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false });
    } else if (++tries < 100) {
      setTimeout(draw, 100);
    }
  })();
})();
</script>`;
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
  return (
    t
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'figure'
  );
}

let warnedNoChromium = false;
let loaderShown = false;
let shownFigures = 0;

/**
 * PNG scale inside notebooks. The PNG is stored twice (image/png and the HTML's <img>), so it is
 * drawn at the figure's CSS size, about a third of the bytes of the figure files' scale 2.
 */
const NOTEBOOK_PNG_SCALE = 1;

/**
 * Shows a figure inline (one output: Plotly JSON, HTML, PNG, text) and, under PLD_FIGURES_DIR,
 * writes `<name>.png/.svg/.html`. `opts` may be just the name: `await showFigure(fig, 'gradient-norms')`.
 */
export async function showFigure(whole: Figure, opts: string | ShowFigureOptions = {}): Promise<void> {
  const fig = thinLines(whole);
  const o: ShowFigureOptions = typeof opts === 'string' ? { name: opts } : opts;
  const name = o.name ?? figureSlug(fig);
  const width = o.width ?? fig.layout.width ?? 760;
  const height = o.height ?? fig.layout.height ?? 460;
  const title = fig.layout.title?.text ?? '';
  let png: string | null = null;
  const metadata: Record<string, unknown> = {};
  if (haveChromium()) {
    png = (await withExporter((e) => e.render(fig, 'png', { width, height, scale: NOTEBOOK_PNG_SCALE }))).toString(
      'base64',
    );
    metadata['image/png'] = { width, height };
  } else {
    if (!warnedNoChromium)
      console.log(
        `showFigure: headless Chromium not found at ${chromiumPath()}; figures are shown without a static image`,
      );
    warnedNoChromium = true;
  }
  if (!loaderShown) displayBundle(plotlyLoaderBundle());
  loaderShown = true;
  const data: Record<string, unknown> = {
    [PLOTLY_MIME]: { data: fig.data, layout: { ...fig.layout, width, height } },
    'text/html': figureHtmlOutput(fig, name, { width, height, png, index: ++shownFigures }),
    ...(png ? { 'image/png': png } : {}),
    'text/plain': `<figure ${name}${title ? `: ${title}` : ''}>`,
  };
  displayBundle(data, metadata);
  const dir = process.env.PLD_FIGURES_DIR;
  if (dir)
    await exportFigure(fig, path.join(path.resolve(dir), name), {
      formats: o.formats ?? DEFAULT_FORMATS,
      width,
      height,
    });
}

/** Closes the shared headless browser (the last cell of a notebook calls this; it also closes itself when idle). */
export async function closeFigures(): Promise<void> {
  await closeExporter();
}

/** Markdown rendered to HTML (CommonMark + tables), as the notebook front ends would render it. */
export function markdownHtml(md: string): string {
  return marked.parse(md, { async: false, gfm: true });
}

/**
 * Shows Markdown: rendered HTML (what classic Notebook 6 and nbconvert display), the Markdown
 * itself for exports that keep it, and the source as text/plain.
 */
export function showMarkdown(md: string): void {
  displayBundle({ 'text/html': markdownHtml(md), 'text/markdown': md, 'text/plain': md });
}

export type TableRow = Record<string, string | number | boolean | null | undefined>;

function cellText(v: TableRow[string], digits: number): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number')
    return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2);
  return String(v);
}

function columns(rows: TableRow[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}

/** A Markdown table of plain rows (numbers to `digits` decimals; columns from all rows). */
export function markdownRows(rows: TableRow[], digits = 3): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns(rows);
  return renderMarkdownTable(
    cols.map(markdownCell),
    rows.map((r) => cols.map((c) => markdownCell(cellText(r[c], digits)))),
  );
}

/** The same table as HTML (numbers right-aligned). */
export function htmlRows(rows: TableRow[], digits = 3): string {
  const cols = columns(rows);
  const esc = (s: string): string => s.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);
  const td = (v: TableRow[string]): string =>
    `<td style="text-align:${typeof v === 'number' ? 'right' : 'left'}">${esc(cellText(v, digits))}</td>`;
  return `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${cols.map((c) => td(r[c])).join('')}</tr>`).join('')}</tbody></table>`;
}

/** What showTable reads of a danfojs DataFrame (its column names and row values). */
export interface FrameLike {
  columns: string[];
  values: unknown[];
}

function isFrame(t: TableRow[] | FrameLike): t is FrameLike {
  return !Array.isArray(t);
}

/** Rows of a DataFrame (NaN, danfojs's missing value, as an empty cell). */
export function frameRows(df: FrameLike): TableRow[] {
  return df.values.map((v) => {
    const row = Array.isArray(v) ? v : [v];
    const r: TableRow = {};
    df.columns.forEach((c, i) => {
      const x = row[i];
      r[c] =
        typeof x === 'number'
          ? Number.isNaN(x)
            ? null
            : x
          : typeof x === 'string' || typeof x === 'boolean'
            ? x
            : x === null || x === undefined
              ? null
              : String(x);
    });
    return r;
  });
}

/** The first and last `max / 2` rows with a '…' row between, when there are more than `max`. */
function elide(rows: TableRow[], max: number): TableRow[] {
  if (rows.length <= max) return rows;
  const half = Math.floor(max / 2);
  const cols = columns(rows);
  return [...rows.slice(0, half), Object.fromEntries(cols.map((c) => [c, '…'])), ...rows.slice(rows.length - half)];
}

/**
 * Shows a table of plain rows or a danfojs DataFrame: HTML, Markdown and plain text in one output.
 * Past `maxRows` rows (default 40) only the first and last halves are shown, with the row count.
 */
export function showTable(table: TableRow[] | FrameLike, digits = 3, maxRows = 40): void {
  const all = isFrame(table) ? frameRows(table) : table;
  const rows = elide(all, maxRows);
  const note = rows.length < all.length ? `\n\n(${all.length} rows)` : '';
  const md = markdownRows(rows, digits) + note;
  displayBundle(
    rows.length
      ? {
          'text/html': htmlRows(rows, digits) + (note ? `<p>(${all.length} rows)</p>` : ''),
          'text/markdown': md,
          'text/plain': md,
        }
      : { 'text/plain': md },
  );
}
