/**
 * `npm run figures`: executes every notebook headless through Jupyter (nbclient, tslab kernel),
 * fails on the first cell error with that cell's message, saves the executed notebooks, checks
 * that every figure file was written by this run, and writes a manifest.
 *
 *   node dist/scripts/figures.js [--preset quick|small|base] [--only NAME] [--fresh]
 *                                [--out DIR] [--notebooks DIR] [--timeout SECONDS]
 *
 * Notebooks see PLD_PRESET, PLD_FIGURES_DIR (= --out, default figures/) and, with --fresh,
 * PLD_FRESH=1. Figures go to <out>/ (PNG, SVG, self-contained HTML), executed notebooks to
 * <out>/notebooks/, the manifest to <out>/manifest.json, and the paper's claims computed from the
 * runs the notebooks made (src/experiments/claims.ts) to <out>/claims.json. Then the executed
 * notebooks are opened in Notebook 6 + headless Chromium (scripts/notebook-browser.ts): signed,
 * checked, one screenshot each as <out>/notebooks/<name>.jpg.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { gitCommit, kitVersion } from '../src/util/manifest';
import { kitRoot } from '../src/util/paths';
import { parsePreset } from '../src/train/config';
import { numberFlag, parseFlags, stringFlag } from '../src/cli/flags';
import { plotlyVersion } from '../src/plots/export';
import { writeFileAtomic } from '../src/util/atomic';
import { claimsFromCache } from '../src/experiments/claims';
import { checkNotebooksInBrowser } from './notebook-browser';

/** Figures each notebook must produce (GLUE's only when PLD_GLUE_DIR is set). */
export const EXPECTED_FIGURES: Record<string, string[]> = {
  '01-gradient-norms': ['gradient-norms'],
  '02-schedule': ['schedule-theta', 'schedule-keep-prob', 'schedule-expected-depth', 'schedule-paper-vs-deepspeed'],
  '03-speedup': [
    'speedup-time-per-sample',
    'speedup-loss-vs-steps',
    'speedup-loss-vs-time',
    'speedup-time-to-loss',
    'speedup-lr-robustness',
  ],
  '04-glue-finetune': ['finetune-offline', ...(process.env.PLD_GLUE_DIR ? ['finetune-glue'] : [])],
};

const FIGURE_FORMATS = ['png', 'svg', 'html'];

export interface FiguresOptions {
  preset: string;
  only?: string;
  fresh: boolean;
  /** Where figures, executed notebooks and the manifest go (default figures/). */
  out: string;
  /** Folder of notebooks to run (default notebooks/). */
  notebooks: string;
  /** Per-cell time limit. */
  timeoutSeconds: number;
}

export function parseArgs(argv: string[]): FiguresOptions {
  const root = kitRoot();
  const f = parseFlags(argv, {
    preset: 'value',
    only: 'value',
    fresh: 'switch',
    out: 'value',
    notebooks: 'value',
    timeout: 'value',
  });
  const out = stringFlag(f, 'out');
  const notebooks = stringFlag(f, 'notebooks');
  const timeout = numberFlag(f, 'timeout');
  if (timeout !== undefined && !(timeout > 0)) throw new Error('--timeout needs a positive number of seconds');
  const o: FiguresOptions = {
    preset: stringFlag(f, 'preset') ?? (process.env.PLD_PRESET || 'small'),
    only: stringFlag(f, 'only'),
    fresh: f.has('fresh'),
    out: out !== undefined ? path.resolve(out) : path.join(root, 'figures'),
    notebooks: notebooks !== undefined ? path.resolve(notebooks) : path.join(root, 'notebooks'),
    timeoutSeconds: timeout ?? 7200,
  };
  parsePreset(o.preset);
  return o;
}

// --- Executing one notebook ----------------------------------------------------------------------

/** The parts of an .ipynb the runner reads. */
export interface NbOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error' | 'update_display_data';
  name?: 'stdout' | 'stderr';
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}
export interface NbCell {
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  outputs?: NbOutput[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: NbCell[];
  metadata: Record<string, unknown>;
}

const joined = (t: string | string[] | undefined): string => (Array.isArray(t) ? t.join('') : (t ?? ''));

/**
 * Runs in Debian's Python: executes SRC with the tslab kernel (working directory: the notebook's
 * folder), writes DST even when a cell fails, prints one `cell i/n: s` line per code cell, and on
 * failure prints `@@nbrun {"cell": index, "error": "..."}` on stderr and exits 1.
 */
const EXECUTE_PY = String.raw`
import json, os, sys, time
src, dst, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
state = {"cell": None, "t": 0.0}
def fail(msg):
    print("@@nbrun " + json.dumps({"cell": state["cell"], "error": msg}), file=sys.stderr, flush=True)
    sys.exit(1)
try:
    import nbformat
    from nbclient import NotebookClient
except ImportError as e:
    fail("Jupyter's Python packages are missing (%s): run bash scripts/setup.sh figures" % e)
nb = nbformat.read(src, as_version=4)
code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
def on_execute(cell, cell_index, **kw):
    state["cell"], state["t"] = cell_index, time.time()
def on_executed(cell, cell_index, **kw):
    print("  cell %d/%d: %.1f s" % (code.index(cell_index) + 1, len(code), time.time() - state["t"]), flush=True)
client = NotebookClient(nb, kernel_name="tslab", timeout=timeout, resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}},
                        on_cell_execute=on_execute, on_cell_executed=on_executed)
error = None
try:
    client.execute()
except Exception as e:
    lines = [l for l in str(e).strip().splitlines() if l.strip()]
    error = "%s: %s" % (type(e).__name__, lines[-1] if lines else "")
    if type(e).__name__ == "NoSuchKernel":
        error = "the tslab kernel is not registered with Jupyter: run npm run kernel (bash scripts/setup.sh kernel)"
finally:
    tmp = dst + ".%d.tmp" % os.getpid()
    nbformat.write(nb, tmp)
    os.replace(tmp, dst)
if error is not None:
    fail(error)
`;

/** A notebook that failed: `message` is the one-line summary, `detail` the cell's stderr/traceback. */
export class NotebookError extends Error {
  constructor(
    message: string,
    readonly detail: string,
    readonly executed: string,
  ) {
    super(message);
  }
}

/** The most telling line of a cell's error text (an `Error:` line, a tslab type error, else the last line). */
export function keyLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /^(\w*(Error|Exception)\b|\d+:\d+ - )/.test(l)) ?? lines[lines.length - 1] ?? '';
}

// Jupyter tracebacks carry terminal colour codes (ESC [ … m); the error line is read as plain text.
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The error text of one cell: stderr streams and error outputs. */
export function cellErrorText(cell: NbCell): string {
  return (cell.outputs ?? [])
    .map((o) =>
      o.output_type === 'error'
        ? [`${o.ename ?? 'Error'}: ${o.evalue ?? ''}`, ...(o.traceback ?? [])].join('\n')
        : o.output_type === 'stream' && o.name === 'stderr'
          ? joined(o.text)
          : '',
    )
    .filter(Boolean)
    .join('\n')
    .replace(ANSI_COLOUR, '')
    .trim();
}

export interface ExecuteOptions {
  env?: NodeJS.ProcessEnv;
  timeoutSeconds?: number;
  /** Print per-cell progress (default true). */
  progress?: boolean;
}

/**
 * Executes `src` with the tslab kernel and writes the executed notebook to `dst`. Throws
 * NotebookError naming the failing cell, its first line and its error message.
 */
export function executeNotebook(
  src: string,
  dst: string,
  o: ExecuteOptions = {},
): { seconds: number; notebook: Notebook } {
  const python = process.env.PLD_PYTHON ?? '/usr/bin/python3';
  if (!fs.existsSync(python))
    throw new Error(`${python} not found (Debian's Python with Jupyter); run bash scripts/setup.sh figures`);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const file = path.basename(src);
  const t0 = Date.now();
  const r = spawnSync(python, ['-Xfrozen_modules=off', '-c', EXECUTE_PY, src, dst, String(o.timeoutSeconds ?? 7200)], {
    env: { ...(o.env ?? process.env), PYDEVD_DISABLE_FILE_VALIDATION: '1' },
    stdio: ['ignore', o.progress === false ? 'ignore' : 'inherit', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const seconds = (Date.now() - t0) / 1000;
  if (r.error) throw new Error(`${file}: could not start ${python}: ${r.error.message}`);
  const marker = /^@@nbrun (.*)$/m.exec(r.stderr ?? '');
  const notebook = fs.existsSync(dst) ? (JSON.parse(fs.readFileSync(dst, 'utf8')) as Notebook) : null;
  if (r.status === 0 && notebook) return { seconds, notebook };
  const info = marker
    ? (JSON.parse(marker[1]) as { cell: number | null; error: string })
    : { cell: null, error: keyLine(r.stderr ?? '') || `exit status ${r.status}` };
  const cell = info.cell !== null ? notebook?.cells[info.cell] : undefined;
  if (info.cell === null || !cell) throw new NotebookError(`${file}: ${info.error}`, r.stderr ?? '', dst);
  const first = joined(cell.source).trim().split('\n')[0] ?? '';
  // The kernel's own frames (vm, tslab) say nothing about the notebook: leave them out.
  const detail = cellErrorText(cell)
    .split('\n')
    .filter((l) => !/^\s+at .*(node:vm|[\\/]tslab[\\/]|sigintHandlersWrap)/.test(l))
    .join('\n');
  const why = keyLine(detail) || info.error;
  throw new NotebookError(
    `${file}: cell ${info.cell} (${first.length > 60 ? first.slice(0, 57) + '...' : first}) failed: ${why}`,
    detail || info.error,
    dst,
  );
}

/** Figure names a notebook displayed (showFigure's text/plain is `<figure NAME: title>`). */
export function displayedFigures(nb: Notebook): string[] {
  return nb.cells
    .flatMap((c) => c.outputs ?? [])
    .flatMap((o) => {
      const m =
        o.output_type === 'display_data'
          ? /^<figure ([^:>]+)/.exec(joined(o.data?.['text/plain'] as string | string[] | undefined))
          : null;
      return m ? [m[1]] : [];
    });
}

/** The backend a notebook reported (its first `backend …` line on stdout), if any. */
export function reportedBackend(nb: Notebook): string | null {
  for (const o of nb.cells.flatMap((c) => c.outputs ?? [])) {
    const m = o.output_type === 'stream' && o.name === 'stdout' ? /\bbackend (.+)$/m.exec(joined(o.text)) : null;
    if (m) return m[1].trim();
  }
  return null;
}

// --- The whole run ------------------------------------------------------------------------------

export interface NotebookRecord {
  name: string;
  seconds: number;
  figures: string[];
}

export interface FiguresManifest {
  preset: string;
  backend: string | null;
  fresh: boolean;
  versions: { kit: string; node: string; tfjs: string; plotly: string; tslab: string };
  gitCommit: string | null;
  notebooks: NotebookRecord[];
  totalSeconds: number;
  finishedAt: string;
}

function pkgVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function runFigures(o: FiguresOptions): { notebooks: NotebookRecord[]; manifest: FiguresManifest } {
  const root = kitRoot();
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'index.js')))
    throw new Error('dist/ is not built; run npm run build (npm run figures builds it)');
  if (!fs.existsSync(o.notebooks)) throw new Error(`no notebook folder ${o.notebooks}`);
  const names = fs
    .readdirSync(o.notebooks)
    .filter((f) => f.endsWith('.ipynb'))
    .map((f) => f.replace(/\.ipynb$/, ''))
    .sort();
  const only = o.only;
  const chosen = only ? names.filter((n) => n === only || n.startsWith(only)) : names;
  if (chosen.length === 0)
    throw new Error(
      only ? `no notebook matches '${only}'; notebooks: ${names.join(', ')}` : `no notebooks in ${o.notebooks}`,
    );
  const executed = path.join(o.out, 'notebooks');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PLD_PRESET: o.preset,
    PLD_FIGURES_DIR: o.out,
    ...(o.fresh ? { PLD_FRESH: '1' } : {}),
  };
  const t0 = Date.now();
  const records: NotebookRecord[] = [];
  let backend: string | null = null;
  for (const name of chosen) {
    console.log(`figures: running ${name} (preset ${o.preset}${o.fresh ? ', fresh' : ''})`);
    const started = Date.now() - 2000; // file times can be coarser than the clock
    const { seconds, notebook } = executeNotebook(
      path.join(o.notebooks, `${name}.ipynb`),
      path.join(executed, `${name}.ipynb`),
      { env, timeoutSeconds: o.timeoutSeconds },
    );
    backend ??= reportedBackend(notebook);
    const figures = [...new Set([...(EXPECTED_FIGURES[name] ?? []), ...displayedFigures(notebook)])];
    const missing = figures.flatMap((f) =>
      FIGURE_FORMATS.map((ext) => path.join(o.out, `${f}.${ext}`)).filter(
        (p) => !fs.existsSync(p) || fs.statSync(p).size === 0 || fs.statSync(p).mtimeMs < started,
      ),
    );
    if (missing.length)
      throw new Error(
        `${name}: figure files missing, empty or not written by this run: ${missing.map((p) => path.relative(process.cwd(), p)).join(', ')}`,
      );
    records.push({ name, seconds: Math.round(seconds * 10) / 10, figures });
    console.log(
      `figures: ${name} done in ${seconds.toFixed(1)} s (${figures.length} figure${figures.length === 1 ? '' : 's'})`,
    );
  }
  const file = path.join(o.out, 'manifest.json');
  // --only refreshes its notebooks' entries in an existing manifest of the same preset.
  let previous: NotebookRecord[] = [];
  if (only && fs.existsSync(file)) {
    try {
      const m = JSON.parse(fs.readFileSync(file, 'utf8')) as FiguresManifest;
      if (m.preset === o.preset) previous = m.notebooks.filter((n) => !chosen.includes(n.name));
    } catch {
      previous = [];
    }
  }
  const manifest: FiguresManifest = {
    preset: o.preset,
    backend: backend ?? process.env.PLD_BACKEND ?? null,
    fresh: o.fresh,
    versions: {
      kit: kitVersion(),
      node: process.version,
      tfjs: pkgVersion('@tensorflow/tfjs'),
      plotly: plotlyVersion(),
      tslab: pkgVersion('tslab'),
    },
    gitCommit: gitCommit(),
    notebooks: [...previous, ...records].sort((a, b) => a.name.localeCompare(b.name)),
    // A full run: wall time; --only merged into an earlier manifest: the sum over its notebooks.
    totalSeconds: previous.length
      ? Math.round([...previous, ...records].reduce((a, n) => a + n.seconds, 0) * 10) / 10
      : Math.round((Date.now() - t0) / 100) / 10,
    finishedAt: new Date().toISOString(),
  };
  fs.mkdirSync(o.out, { recursive: true });
  writeFileAtomic(file, JSON.stringify(manifest, null, 1) + '\n');
  // The claims read the runs' cache; it holds all three main runs only once 03-speedup has run.
  const claims = claimsFromCache({ preset: o.preset });
  if (claims) {
    writeFileAtomic(
      path.join(o.out, 'claims.json'),
      JSON.stringify({ ...claims, gitCommit: manifest.gitCommit }, null, 1) + '\n',
    );
    console.log(`figures: claims ${claims.claims.map((c) => `${c.id} ${c.verdict}`).join(', ')}`);
  } else
    console.log(
      'figures: claims.json not written: the three main runs of this preset are not all cached (run 03-speedup)',
    );
  return { notebooks: records, manifest };
}

if (require.main === module) {
  (async () => {
    const o = parseArgs(process.argv.slice(2));
    const r = runFigures(o);
    console.log(
      `figures: ${r.notebooks.length} notebook${r.notebooks.length === 1 ? '' : 's'} in ${r.notebooks.reduce((a, n) => a + n.seconds, 0).toFixed(0)} s; figures and manifest in ${path.relative(process.cwd(), o.out).startsWith('..') ? o.out : path.relative(process.cwd(), o.out) || '.'}`,
    );
    // What a reader sees: the executed notebooks opened in Notebook 6 + Chromium (signed, checked, screenshots beside them).
    const nbs = path.join(o.out, 'notebooks');
    const b = await checkNotebooksInBrowser(nbs, nbs);
    console.log(
      `figures: in the browser, ${b.notebooks.map((v) => `${v.name} ${v.figures} interactive figures`).join(', ')}; screenshots in ${path.relative(process.cwd(), nbs) || '.'}`,
    );
  })().catch((e: unknown) => {
    if (e instanceof NotebookError && e.detail) console.error(e.detail.replace(/^/gm, '  | '));
    console.error(`figures: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
