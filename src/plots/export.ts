/**
 * Export of Plotly figures to PNG, SVG and self-contained interactive HTML.
 *
 * PNG and SVG come from Plotly.toImage running in headless Chromium (Debian's /usr/bin/chromium,
 * or PLD_CHROMIUM, driven by playwright-core: no browser download, no network). One browser
 * serves every figure: `FigureExporter.launch()` once, `export()` many times, `close()`;
 * `exportFigure()` does the same through a shared exporter that closes itself after a minute idle
 * (or at `closeExporter()`). HTML pages inline the plotly.js bundle, so each works offline on its
 * own (about 1.5 MB each). Every file is written atomically (temp file + rename).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as url from 'url';
import type { Browser, Page } from 'playwright-core';
import { Figure } from './types';
import { writeFileAtomic } from '../util/atomic';

export type ExportFormat = 'png' | 'svg' | 'html';

export interface ExportOptions {
  /** Default: all three. */
  formats?: ExportFormat[];
  /** Pixels; default the figure's layout size, else 760 × 460. */
  width?: number;
  height?: number;
  /** PNG pixel ratio (default 2: sharp on high-DPI screens and in print). */
  scale?: number;
}

export const DEFAULT_FORMATS: ExportFormat[] = ['png', 'svg', 'html'];

/** Where the browser is expected (PLD_CHROMIUM overrides). */
export function chromiumPath(): string {
  return process.env.PLD_CHROMIUM ?? '/usr/bin/chromium';
}

export function haveChromium(): boolean {
  return fs.existsSync(chromiumPath());
}

/** Headless Chromium on a machine with no network and no GPU (the figure export and the browser check). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

/**
 * plotly.js's minified cartesian bundle: the scatter, bar and heatmap traces the kit draws (and box,
 * histogram, contour, pie, violin), 1.5 MB instead of the full bundle's 4.8 MB (10 MB unminified),
 * which matters because every figure page and every executed notebook inlines it.
 */
const PLOTLY_PACKAGE = 'plotly.js-cartesian-dist-min';

function plotlyBundlePath(): string {
  return require.resolve(`${PLOTLY_PACKAGE}/plotly-cartesian.min.js`);
}

let bundle: string | null = null;
/** The plotly.js bundle's source, safe to inline in a <script> element (read once). */
export function plotlyBundle(): string {
  if (bundle === null) bundle = fs.readFileSync(plotlyBundlePath(), 'utf8').replace(/<\/script/gi, '<\\/script');
  return bundle;
}

export function plotlyVersion(): string {
  return (require(`${PLOTLY_PACKAGE}/package.json`) as { version: string }).version;
}

/** The size a figure renders at. */
function sizeOf(fig: Figure, o: ExportOptions): { width: number; height: number } {
  return { width: o.width ?? fig.layout.width ?? 760, height: o.height ?? fig.layout.height ?? 460 };
}

/** What the page script sees: plotly.js's global. */
interface PlotlyGlobal {
  Plotly: {
    toImage(fig: Figure, o: { format: string; width: number; height: number; scale: number }): Promise<string>;
  };
}

export class FigureExporter {
  private constructor(
    private readonly browser: Browser,
    private readonly page: Page,
  ) {}

  /** Starts headless Chromium with plotly.js loaded from node_modules (no network). */
  static async launch(o: { executablePath?: string } = {}): Promise<FigureExporter> {
    const exe = o.executablePath ?? chromiumPath();
    if (!fs.existsSync(exe))
      throw new Error(
        `headless Chromium not found at ${exe}; run \`bash scripts/setup.sh\` or apt-get install chromium`,
      );
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    let browser: Browser;
    try {
      browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS, headless: true });
    } catch (e) {
      throw new Error(
        `could not start headless Chromium at ${exe}: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`,
        { cause: e },
      );
    }
    try {
      // A file:// page loading plotly.js from node_modules parses faster than an injected script tag.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-plotly-'));
      try {
        const page = await browser.newPage();
        const html = path.join(dir, 'index.html');
        fs.writeFileSync(
          html,
          `<!doctype html><html><head><meta charset="utf-8"><script src="${url.pathToFileURL(plotlyBundlePath()).href}"></script></head><body></body></html>`,
        );
        await page.goto(url.pathToFileURL(html).href);
        if (!(await page.evaluate(() => typeof (globalThis as unknown as Partial<PlotlyGlobal>).Plotly === 'object')))
          throw new Error(`plotly.js did not load from ${plotlyBundlePath()}`);
        return new FigureExporter(browser, page);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } catch (e) {
      await browser.close().catch(() => undefined);
      throw e;
    }
  }

  /** PNG bytes or SVG text (as bytes) of a figure, rendered by Plotly.toImage. */
  async render(fig: Figure, format: 'png' | 'svg', o: ExportOptions = {}): Promise<Buffer> {
    const { width, height } = sizeOf(fig, o);
    const scale = format === 'png' ? (o.scale ?? 2) : 1;
    const dataUrl = await this.page.evaluate(
      (a) =>
        (globalThis as unknown as PlotlyGlobal).Plotly.toImage(a.fig, {
          format: a.format,
          width: a.width,
          height: a.height,
          scale: a.scale,
        }),
      { fig: { data: fig.data, layout: { ...fig.layout, width, height } }, format, width, height, scale },
    );
    const comma = dataUrl.indexOf(',');
    const body = dataUrl.slice(comma + 1);
    return dataUrl.slice(0, comma).endsWith(';base64')
      ? Buffer.from(body, 'base64')
      : Buffer.from(decodeURIComponent(body), 'utf8');
  }

  /** Writes `<basePath>.png`, `.svg` and/or `.html` (atomically); returns the paths written. */
  async export(fig: Figure, basePath: string, o: ExportOptions = {}): Promise<string[]> {
    const written: string[] = [];
    fs.mkdirSync(path.dirname(basePath), { recursive: true });
    for (const f of o.formats ?? DEFAULT_FORMATS) {
      const file = `${basePath}.${f}`;
      writeFileAtomic(file, f === 'html' ? figureHtml(fig, path.basename(basePath), o) : await this.render(fig, f, o));
      written.push(file);
    }
    return written;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** A self-contained interactive page for one figure: plotly.js inlined, no network needed. */
export function figureHtml(fig: Figure, title: string, o: ExportOptions = {}): string {
  const json = JSON.stringify({ data: fig.data, layout: { ...fig.layout, ...sizeOf(fig, o) } }).replace(
    /</g,
    '\\u003c',
  );
  const esc = title.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc}</title>
<script>${plotlyBundle()}</script>
</head>
<body style="margin:0"><div id="fig"></div>
<script>const fig = ${json}; Plotly.newPlot('fig', fig.data, fig.layout, {displaylogo: false});</script>
</body></html>
`;
}

// --- A shared exporter for one-off calls (scripts, notebooks) -----------------------------------

let shared: Promise<FigureExporter> | null = null;
let active = 0;
let idleTimer: NodeJS.Timeout | null = null;
const IDLE_MS = 60_000;

/** Runs `fn` with the shared exporter, launching it on first use; it closes after a minute idle. */
export async function withExporter<T>(fn: (e: FigureExporter) => Promise<T>): Promise<T> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  if (!shared) {
    shared = FigureExporter.launch();
    shared.catch(() => (shared = null)); // a failed launch is retried next time
  }
  active++;
  try {
    return await fn(await shared);
  } finally {
    if (--active === 0) {
      idleTimer = setTimeout(() => void closeExporter(), IDLE_MS);
      idleTimer.unref();
    }
  }
}

/** Closes the shared browser (safe to call when none is running). */
export async function closeExporter(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = null;
  const s = shared;
  shared = null;
  if (s) await (await s.catch(() => null))?.close().catch(() => undefined);
}

/**
 * Writes `<basePath>.png/.svg/.html` (default all three); PNG/SVG through the shared headless
 * Chromium, HTML without a browser. Returns the paths written. Call `closeExporter()` at the end of
 * a script so the process can exit before the idle timeout.
 */
export async function exportFigure(fig: Figure, basePath: string, o: ExportOptions = {}): Promise<string[]> {
  const formats = o.formats ?? DEFAULT_FORMATS;
  if (!formats.some((f) => f !== 'html')) {
    const file = `${basePath}.html`;
    if (formats.length) {
      fs.mkdirSync(path.dirname(basePath), { recursive: true });
      writeFileAtomic(file, figureHtml(fig, path.basename(basePath), o));
    }
    return formats.length ? [file] : [];
  }
  return withExporter((e) => e.export(fig, basePath, { ...o, formats }));
}
