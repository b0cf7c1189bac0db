/**
 * Static and interactive export of Plotly figures. PNG and SVG come from Plotly.toImage running in
 * headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; no browser download);
 * one browser serves every figure of a run. HTML pages are interactive and work offline: they load
 * `plotly.js` from the same folder, copied there once, instead of inlining 10 MB into each page.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../checkpoint/atomic';
import { Figure } from './types';

export type ExportFormat = 'png' | 'svg' | 'html';

export const CHROMIUM = process.env.PLD_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

function plotlyPath(): string {
  return require.resolve('plotly.js-dist/plotly.js');
}

/** Minimal slice of the playwright-core API the exporter uses (typed at the library boundary). */
interface Page {
  setContent(html: string): Promise<void>;
  addScriptTag(o: { path: string }): Promise<unknown>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}
interface Browser {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export class FigureExporter {
  private constructor(private readonly browser: Browser, private readonly page: Page) {}

  /** Starts headless Chromium with Plotly loaded. */
  static async launch(): Promise<FigureExporter> {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`headless Chromium not found at ${CHROMIUM}; run \`bash scripts/setup.sh figures\` or \`apt-get install chromium\``);
    const { chromium } = require('playwright-core') as { chromium: { launch(o: object): Promise<Browser> } };
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html><body><div id="fig"></div></body></html>');
    await page.addScriptTag({ path: plotlyPath() });
    return new FigureExporter(browser, page);
  }

  /** PNG bytes or SVG text of a figure, rendered by Plotly.toImage. */
  async render(fig: Figure, format: 'png' | 'svg', size: { width?: number; height?: number; scale?: number } = {}): Promise<Buffer> {
    const width = size.width ?? fig.layout.width ?? 760;
    const height = size.height ?? fig.layout.height ?? 460;
    const url = await this.page.evaluate(
      async (a: { fig: Figure; format: string; width: number; height: number; scale: number }) => {
        // Runs in the page: `Plotly` is the global the script tag defined.
        const P = (globalThis as unknown as { Plotly: { newPlot(d: unknown, a: unknown, b: unknown): Promise<unknown>; toImage(d: unknown, o: object): Promise<string> } }).Plotly;
        const div = (globalThis as unknown as { document: { getElementById(id: string): unknown } }).document.getElementById('fig');
        await P.newPlot(div, a.fig.data, { ...a.fig.layout, width: a.width, height: a.height });
        return P.toImage(div, { format: a.format, width: a.width, height: a.height, scale: a.scale });
      },
      { fig, format, width, height, scale: size.scale ?? (format === 'png' ? 2 : 1) },
    );
    const comma = url.indexOf(',');
    const body = url.slice(comma + 1);
    return url.slice(0, comma).endsWith(';base64') ? Buffer.from(body, 'base64') : Buffer.from(decodeURIComponent(body), 'utf8');
  }

  /** Writes `<base>.png`, `.svg` and/or `.html`; returns the paths written. */
  async export(fig: Figure, basePath: string, formats: ExportFormat[] = ['png', 'svg', 'html']): Promise<string[]> {
    fs.mkdirSync(path.dirname(basePath), { recursive: true });
    const written: string[] = [];
    for (const f of formats) {
      const file = `${basePath}.${f}`;
      writeFileAtomic(file, f === 'html' ? figureHtml(fig, path.basename(basePath)) : await this.render(fig, f));
      written.push(file);
    }
    if (formats.includes('html')) ensurePlotlyBeside(path.dirname(basePath));
    return written;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

/** An interactive page for one figure that loads plotly.js from its own folder (works offline). */
export function figureHtml(fig: Figure, title: string): string {
  const json = JSON.stringify(fig).replace(/</g, '\\u003c');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title.replace(/[<&]/g, '')}</title><script src="plotly.js"></script></head>
<body><div id="fig"></div>
<script>const fig = ${json}; Plotly.newPlot('fig', fig.data, fig.layout, {responsive: true});</script>
</body></html>
`;
}

/** Copies plotly.js next to the HTML figures once (10 MB; regenerated, not committed). */
export function ensurePlotlyBeside(dir: string): void {
  const target = path.join(dir, 'plotly.js');
  const src = plotlyPath();
  if (!fs.existsSync(target) || fs.statSync(target).size !== fs.statSync(src).size) fs.copyFileSync(src, target);
}
