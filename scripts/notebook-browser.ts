/**
 * What a person sees when opening the executed notebooks: Debian's classic Jupyter Notebook 6
 * server on 127.0.0.1 (tslab kernel), each notebook opened in headless Chromium (playwright-core,
 * Debian's /usr/bin/chromium), and checked:
 *   - every figure is an interactive Plotly chart (.js-plotly-plot) with the traces of its
 *     Plotly JSON, and hovering a point of its first trace shows a tooltip;
 *   - Markdown outputs show as formatted HTML (no `**` source), tables render as tables;
 *   - no cell shows an error;
 *   - an unsigned copy of the first notebook (what a fresh clone is: not trusted, so no scripts
 *     run) still shows each figure as a static image;
 *   - nbconvert's HTML export of each notebook draws its figures as interactive charts.
 * The notebooks are signed first (`jupyter trust`), as the figures job leaves them, so their HTML
 * and scripts run. One screenshot per notebook is saved as <screenshots>/<name>.jpg. The server is
 * stopped by its pid at the end, whatever happened.
 *
 *   node dist/scripts/notebook-browser.js [--notebooks DIR] [--screenshots DIR]
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as url from 'url';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumPath } from '../src/plots/export';
import { PLOTLY_MIME } from '../src/plots/notebook';
import { kitRoot } from '../src/util/paths';
import { parseFlags, stringFlag } from '../src/cli/flags';

const PYTHON = process.env.PLD_PYTHON ?? '/usr/bin/python3';

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
}
interface Cell {
  cell_type: string;
  outputs?: Output[];
}

const text = (v: unknown): string => (Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : '');

/** What the page should show, read from the executed notebook. */
export interface Expected {
  /** Trace count of each figure, in order. */
  traces: number[];
  /**
   * Whether each figure's first trace has a value to draw. A figure can honestly have none (the
   * time-to-quality bars of runs that reached no target say so in an annotation); it has no point
   * to hover.
   */
  drawn: boolean[];
  /** Markdown outputs whose source has bold text (`**…**`). */
  boldMarkdown: number;
  /** HTML tables among the outputs. */
  tables: number;
}

export function expectedOf(file: string): Expected {
  const cells = (JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: Cell[] }).cells;
  const outs = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data);
  return {
    traces: outs
      .filter((o) => o.data?.[PLOTLY_MIME])
      .map((o) => ((o.data?.[PLOTLY_MIME] as { data: unknown[] }).data ?? []).length),
    drawn: outs
      .filter((o) => o.data?.[PLOTLY_MIME])
      .map((o) => {
        const first = ((o.data?.[PLOTLY_MIME] as { data?: { y?: unknown[]; z?: unknown[] }[] }).data ?? [])[0];
        return (first?.z ?? first?.y ?? []).some(
          (v) => Array.isArray(v) || (typeof v === 'number' && Number.isFinite(v)),
        );
      }),
    boldMarkdown: outs.filter((o) => /\*\*[^*]+\*\*/.test(text(o.data?.['text/markdown']))).length,
    tables: outs.filter((o) => /<table/.test(text(o.data?.['text/html']))).length,
  };
}

export interface NotebookView {
  name: string;
  figures: number;
  hovered: number;
  tables: number;
  screenshot: string;
}

export interface BrowserCheck {
  notebooks: NotebookView[];
  /** Static images the untrusted copy showed (one per figure of the first notebook). */
  untrustedImages: number;
  /** Interactive charts drawn in the notebooks' nbconvert HTML exports, all together. */
  nbconvertFigures: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Signs notebooks with this user's Jupyter key so the front end trusts their outputs. */
export function trustNotebooks(files: string[]): void {
  // What `jupyter trust` does (nbformat's notary, this user's key and signature database).
  const py =
    'import sys, nbformat\nfrom nbformat.sign import NotebookNotary\nn = NotebookNotary()\nfor f in sys.argv[1:]: n.sign(nbformat.read(f, as_version=4))';
  const r = spawnSync(PYTHON, ['-Xfrozen_modules=off', '-c', py, ...files], {
    encoding: 'utf8',
    env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' },
  });
  if (r.status !== 0)
    throw new Error(`signing the notebooks failed: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`);
}

interface Server {
  child: ChildProcess;
  url: string;
  token: string;
  log: () => string;
}

/** Starts Notebook 6 on 127.0.0.1 serving `dir`; resolves once its API answers. */
async function startServer(dir: string, runtime: string): Promise<Server> {
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  let log = '';
  const child = spawn(
    PYTHON,
    [
      '-Xfrozen_modules=off',
      '-m',
      'notebook',
      '--no-browser',
      '--ip=127.0.0.1',
      `--port=${port}`,
      '--port-retries=0',
      `--notebook-dir=${dir}`,
      `--NotebookApp.token=${token}`,
      '--NotebookApp.password=',
      '--NotebookApp.open_browser=False',
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    // A config folder of its own: the user's Notebook configuration (extensions, themes) does not apply.
    {
      env: {
        ...process.env,
        PYDEVD_DISABLE_FILE_VALIDATION: '1',
        JUPYTER_RUNTIME_DIR: runtime,
        JUPYTER_CONFIG_DIR: path.join(runtime, 'config'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    if (child.exitCode !== null)
      throw new Error(
        `the Notebook server exited (status ${child.exitCode}): ${log.trim().split('\n').slice(-3).join(' | ')}; install it with bash scripts/setup.sh test`,
      );
    try {
      const r = await fetch(`${url}/api/status?token=${token}`);
      if (r.ok) return { child, url, token, log: () => log };
    } catch {
      // not listening yet
    }
    await sleep(300);
  }
  child.kill('SIGKILL');
  throw new Error(
    `the Notebook server did not answer on ${url} within 60 s: ${log.trim().split('\n').slice(-3).join(' | ')}`,
  );
}

/** Stops the server by its pid: SIGTERM (it shuts its kernels down), SIGKILL after 10 s. */
async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.pid === undefined) return;
  const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
  process.kill(s.child.pid, 'SIGTERM');
  const t = setTimeout(
    () => s.child.pid !== undefined && s.child.exitCode === null && process.kill(s.child.pid, 'SIGKILL'),
    10_000,
  );
  await exited;
  clearTimeout(t);
}

/** In the page: the figures' trace counts and, per figure, the page position of a point of its first trace. */
interface PlotInfo {
  traces: number;
  point: { x: number; y: number } | null;
}

/**
 * In-page scripts, as text: they run in Chromium, where `document` and plotly's graph divs exist
 * (the kit compiles without the DOM's types). A graph div carries its traces as `data` and its
 * axes (with the data-to-pixel maps) in `_fullLayout`.
 */
const PLOT_INFO_JS = `[...document.querySelectorAll('.js-plotly-plot')].map((gd) => {
  const t = gd.data[0];
  const xs = (t && t.x) || [];
  const ys = (t && t.y) || [];
  let i = Math.floor(xs.length / 2);
  while (i < ys.length - 1 && (ys[i] === null || ys[i] === undefined)) i++;
  const xa = t && gd._fullLayout[(t.xaxis || 'x').replace(/^x/, 'xaxis')];
  const ya = t && gd._fullLayout[(t.yaxis || 'y').replace(/^y/, 'yaxis')];
  if (!t || !xa || !ya || xs.length === 0) return { traces: gd.data.length, point: null };
  if (t.type === 'bar') {
    // Grouped bars sit beside the category's centre: aim at the middle of a drawn bar of the first trace.
    const bars = [...gd.querySelectorAll('.barlayer .trace')][0];
    const r = [...((bars && bars.querySelectorAll('.point path')) || [])].map((b) => b.getBoundingClientRect()).find((b) => b.height > 4 && b.width > 2);
    return { traces: gd.data.length, point: r ? { x: r.left + r.width / 2, y: r.top + r.height / 2 } : null };
  }
  // Heat maps: a middle cell; lines and markers: the point.
  const yv = t.type === 'heatmap' ? ys[Math.floor(ys.length / 2)] : ys[i];
  const box = gd.getBoundingClientRect();
  return { traces: gd.data.length, point: { x: box.left + xa._offset + xa.l2p(xa.d2l(xs[i])), y: box.top + ya._offset + ya.l2p(ya.d2l(yv)) } };
})`;
const SHOWN_SOURCE_JS = `[...document.querySelectorAll('.output_subarea')].filter((e) => /\\*\\*[^*\\n]+\\*\\*/.test(e.innerText)).length`;
const NOTEBOOK_HEIGHT_JS = `Math.ceil(document.querySelector('#notebook-container').getBoundingClientRect().height + 160)`;
const VISIBLE_IMAGES_JS = `[...document.querySelectorAll('.output_html .pld-figure img')].filter((i) => i.naturalWidth > 0).length`;

async function plotInfo(page: Page): Promise<PlotInfo[]> {
  return page.evaluate<PlotInfo[]>(PLOT_INFO_JS);
}

async function openNotebook(page: Page, s: Server, name: string): Promise<void> {
  await page.goto(`${s.url}/notebooks/${encodeURIComponent(name)}.ipynb?token=${s.token}`, { waitUntil: 'load' });
  await page.waitForSelector('#notebook-container .cell', { timeout: 60_000 });
}

/** Checks one executed, signed notebook in the page; throws naming the notebook and what is wrong. */
async function checkNotebook(
  page: Page,
  s: Server,
  name: string,
  want: Expected,
  screenshots: string,
): Promise<NotebookView> {
  await openNotebook(page, s, name);
  const fail = (what: string): never => {
    throw new Error(`${name}.ipynb in the browser: ${what}`);
  };
  try {
    await page.waitForFunction(
      `document.querySelectorAll('.js-plotly-plot .main-svg').length >= ${want.traces.length}`,
      undefined,
      { timeout: 30_000 },
    );
  } catch {
    fail(
      `${await page.locator('.js-plotly-plot').count()} interactive Plotly charts, expected ${want.traces.length} (is the notebook signed, and did the plotly.js loader output run?)`,
    );
  }
  const plots = await plotInfo(page);
  if (plots.length !== want.traces.length) fail(`${plots.length} Plotly charts, expected ${want.traces.length}`);
  plots.forEach(
    (p, i) =>
      p.traces !== want.traces[i] && fail(`figure ${i + 1} has ${p.traces} traces, its Plotly JSON ${want.traces[i]}`),
  );
  let hovered = 0;
  for (const [i, p] of plots.entries()) {
    if (!want.drawn[i]) continue;
    if (!p.point) fail(`figure ${i + 1}: no point to hover`);
    const pt = p.point as { x: number; y: number };
    if (!Number.isFinite(pt.x) || !Number.isFinite(pt.y))
      fail(`figure ${i + 1}: its first trace has no point on the page`);
    await page.locator('.js-plotly-plot').nth(i).scrollIntoViewIfNeeded();
    const again = (await plotInfo(page))[i].point ?? pt; // positions after scrolling
    await page.mouse.move(again.x, again.y);
    try {
      await page
        .locator('.js-plotly-plot')
        .nth(i)
        .locator('.hoverlayer .hovertext')
        .first()
        .waitFor({ state: 'attached', timeout: 5_000 });
      hovered++;
    } catch {
      fail(`figure ${i + 1}: hovering a point of its first trace shows no tooltip`);
    }
    await page.mouse.move(0, 0);
  }
  const errors = await page.locator('.output_error').count();
  if (errors)
    fail(
      `${errors} cell(s) show an error: ${(await page.locator('.output_error').first().innerText()).split('\n')[0]}`,
    );
  const shownSource = await page.evaluate<number>(SHOWN_SOURCE_JS);
  if (shownSource) fail(`${shownSource} output(s) show Markdown source (**…**) instead of formatted text`);
  const bold = await page.locator('.output_html strong').count();
  if (want.boldMarkdown && bold < want.boldMarkdown)
    fail(
      `${bold} bold spans in HTML outputs, expected at least ${want.boldMarkdown} (one per Markdown output with bold text)`,
    );
  const tables = await page.locator('.output_html table').count();
  if (tables < want.tables) fail(`${tables} HTML tables rendered, expected ${want.tables}`);
  // The whole notebook in one image: the page scrolls inside #site, so size the viewport to it.
  const height = await page.evaluate<number>(NOTEBOOK_HEIGHT_JS);
  await page.setViewportSize({ width: 1200, height: Math.min(height, 16_000) });
  await sleep(300);
  const screenshot = path.join(screenshots, `${name}.jpg`);
  fs.mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: screenshot, type: 'jpeg', quality: 80 });
  await page.setViewportSize({ width: 1200, height: 900 });
  return { name, figures: plots.length, hovered, tables, screenshot };
}

/** Opens an unsigned copy: no scripts run, and each figure must still show its static image. */
async function checkUntrusted(page: Page, s: Server, name: string, figures: number): Promise<number> {
  await openNotebook(page, s, name);
  await sleep(1500);
  const plots = await page.locator('.js-plotly-plot').count();
  if (plots) throw new Error(`${name}.ipynb (unsigned): ${plots} charts drew although the notebook is not trusted`);
  const images = await page.locator('.output_html .pld-figure img').count();
  const visible = await page.evaluate<number>(VISIBLE_IMAGES_JS);
  if (images !== figures || visible !== figures)
    throw new Error(`${name}.ipynb (unsigned): ${visible} of ${figures} figures show their static image`);
  return visible;
}

/** Exports the notebooks with nbconvert (HTML) and checks that each page draws its figures. */
async function checkNbconvert(page: Page, files: string[], outDir: string, want: Map<string, number>): Promise<number> {
  const r = spawnSync(
    PYTHON,
    ['-Xfrozen_modules=off', '-m', 'nbconvert', '--to', 'html', '--output-dir', outDir, ...files],
    { encoding: 'utf8', env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' } },
  );
  if (r.status !== 0) throw new Error(`nbconvert --to html failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  let drawn = 0;
  for (const f of files) {
    const name = path.basename(f, '.ipynb');
    const n = want.get(name) ?? 0;
    await page.goto(url.pathToFileURL(path.join(outDir, `${name}.html`)).href);
    try {
      await page.waitForFunction(`document.querySelectorAll('.js-plotly-plot .main-svg').length >= ${n}`, undefined, {
        timeout: 30_000,
      });
    } catch {
      throw new Error(
        `${name}.html (nbconvert): ${await page.locator('.js-plotly-plot').count()} interactive Plotly charts, expected ${n}`,
      );
    }
    drawn += await page.locator('.js-plotly-plot').count();
  }
  return drawn;
}

/**
 * Runs the whole check on every .ipynb in `notebooksDir` (executed notebooks), saving screenshots
 * in `screenshotsDir`. Throws on the first problem, after stopping the server and the browser.
 */
export async function checkNotebooksInBrowser(notebooksDir: string, screenshotsDir: string): Promise<BrowserCheck> {
  const exe = chromiumPath();
  if (!fs.existsSync(exe)) throw new Error(`headless Chromium not found at ${exe}; run bash scripts/setup.sh test`);
  const names = fs
    .readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb'))
    .map((f) => f.slice(0, -6))
    .sort();
  if (names.length === 0) throw new Error(`no executed notebooks in ${notebooksDir}; run npm run figures first`);
  // Serve copies, so the server's checkpoints and the untrusted copy stay out of the notebooks' folder.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-browser-'));
  const served = path.join(work, 'notebooks');
  fs.mkdirSync(served);
  for (const n of names) fs.copyFileSync(path.join(notebooksDir, `${n}.ipynb`), path.join(served, `${n}.ipynb`));
  // A signature is kept per content digest, so signing the executed notebooks trusts the copies too.
  trustNotebooks(names.map((n) => path.join(notebooksDir, `${n}.ipynb`)));
  const untrusted = `untrusted-${names[0]}`;
  fs.copyFileSync(path.join(notebooksDir, `${names[0]}.ipynb`), path.join(served, `${untrusted}.ipynb`));
  // The copy differs from the signed one by a metadata field, so its signature is unknown.
  const copy = JSON.parse(fs.readFileSync(path.join(served, `${untrusted}.ipynb`), 'utf8')) as {
    metadata: Record<string, unknown>;
  };
  copy.metadata.pld_untrusted_copy = true;
  fs.writeFileSync(path.join(served, `${untrusted}.ipynb`), JSON.stringify(copy));

  let server: Server | null = null;
  let browser: Browser | null = null;
  try {
    server = await startServer(served, path.join(work, 'runtime'));
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const views: NotebookView[] = [];
    for (const n of names)
      views.push(
        await checkNotebook(page, server, n, expectedOf(path.join(notebooksDir, `${n}.ipynb`)), screenshotsDir),
      );
    const untrustedImages = await checkUntrusted(page, server, untrusted, views[0].figures);
    const nbconvertFigures = await checkNbconvert(
      page,
      names.map((n) => path.join(notebooksDir, `${n}.ipynb`)),
      path.join(work, 'html'),
      new Map(views.map((v) => [v.name, v.figures])),
    );
    return { notebooks: views, untrustedImages, nbconvertFigures };
  } finally {
    await browser?.close().catch(() => undefined);
    if (server) await stopServer(server);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const f = parseFlags(process.argv.slice(2), { notebooks: 'value', screenshots: 'value' });
  const nbs = path.resolve(stringFlag(f, 'notebooks') ?? path.join(kitRoot(), 'figures', 'notebooks'));
  const shots = path.resolve(stringFlag(f, 'screenshots') ?? nbs);
  checkNotebooksInBrowser(nbs, shots).then(
    (r) => {
      for (const v of r.notebooks)
        console.log(
          `browser: ${v.name}: ${v.figures} interactive figures (${v.hovered} hovered), ${v.tables} tables; screenshot ${path.relative(process.cwd(), v.screenshot)}`,
        );
      console.log(
        `browser: untrusted copy shows ${r.untrustedImages} static figure images; nbconvert's HTML draws ${r.nbconvertFigures} interactive figures`,
      );
    },
    (e: unknown) => {
      console.error(`browser: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
