/**
 * `npm run figures`: executes every notebook headless through Jupyter (tslab kernel), fails on any
 * cell error, saves the executed notebooks, checks every figure file, and writes a manifest.
 *
 *   node dist/scripts/figures.js [--preset quick|small|base] [--only NAME] [--fresh] [--out DIR] [--notebooks DIR]
 *
 * Figures go to figures/ (PNG, SVG, interactive HTML); executed notebooks to <out>/notebooks/.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../src/checkpoint/atomic';
import { gitCommit, kitVersion } from '../src/manifest';
import { kitRoot } from '../src/paths';
import { parsePreset } from '../src/train/config';

/** Figures each notebook must produce (GLUE's only when PLD_GLUE_DIR is set). */
export const EXPECTED_FIGURES: Record<string, string[]> = {
  '01-gradient-norms': ['gradient-norms'],
  '02-schedule': ['schedule-theta', 'schedule-keep-prob', 'schedule-expected-depth', 'schedule-paper-vs-deepspeed'],
  '03-speedup': ['speedup-time-per-sample', 'speedup-loss-vs-steps', 'speedup-loss-vs-time', 'speedup-time-to-loss', 'speedup-lr-robustness'],
  '04-glue-finetune': ['finetune-offline', ...(process.env.PLD_GLUE_DIR ? ['finetune-glue'] : [])],
};

export interface FiguresOptions {
  preset: string;
  only?: string;
  fresh: boolean;
  /** Where figures and executed notebooks go (default figures/). */
  out: string;
  /** Folder of notebooks to run (default notebooks/). */
  notebooks: string;
  timeoutSeconds: number;
}

export function parseArgs(argv: string[]): FiguresOptions {
  const o: FiguresOptions = { preset: process.env.PLD_PRESET ?? 'small', fresh: false, out: path.join(kitRoot(), 'figures'), notebooks: path.join(kitRoot(), 'notebooks'), timeoutSeconds: 7200 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--preset') o.preset = val();
    else if (a === '--only') o.only = val();
    else if (a === '--fresh') o.fresh = true;
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--notebooks') o.notebooks = path.resolve(val());
    else throw new Error(`unknown option ${a}; use --preset, --only, --fresh, --out, --notebooks`);
  }
  parsePreset(o.preset);
  return o;
}

export function runFigures(o: FiguresOptions): { notebooks: { name: string; seconds: number }[]; missing: string[] } {
  const root = kitRoot();
  const dir = o.notebooks;
  const names = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).map((f) => f.replace(/\.ipynb$/, '')).sort();
  const chosen = o.only ? names.filter((n) => n === o.only || n.startsWith(o.only as string)) : names;
  if (chosen.length === 0) throw new Error(`no notebook matches '${o.only}'; notebooks: ${names.join(', ')}`);
  const executed = path.join(o.out, 'notebooks');
  fs.mkdirSync(executed, { recursive: true });
  const env = { ...process.env, PLD_PRESET: o.preset, PLD_FIGURES_DIR: o.out, ...(o.fresh ? { PLD_FRESH: '1' } : {}) };
  const t0 = Date.now();
  const timings: { name: string; seconds: number }[] = [];
  for (const name of chosen) {
    const start = Date.now();
    console.log(`figures: running ${name} (preset ${o.preset})`);
    const r = spawnSync('/usr/bin/python3', [path.join(root, 'scripts', 'execute_notebook.py'), path.join(dir, `${name}.ipynb`), path.join(executed, `${name}.ipynb`), String(o.timeoutSeconds)], { env, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) throw new Error((r.stderr ?? '').trim().split('\n').filter((l) => !/Debugger warning|frozen modules|PYDEVD|Note: Debugging/.test(l)).pop() ?? `${name} failed`);
    timings.push({ name, seconds: (Date.now() - start) / 1000 });
    console.log(`figures: ${name} done in ${((Date.now() - start) / 1000).toFixed(0)} s`);
  }
  const missing: string[] = [];
  for (const name of chosen) {
    for (const fig of EXPECTED_FIGURES[name] ?? []) {
      for (const ext of ['png', 'svg', 'html']) {
        const f = path.join(o.out, `${fig}.${ext}`);
        if (!fs.existsSync(f) || fs.statSync(f).size === 0) missing.push(path.relative(root, f));
      }
    }
  }
  if (missing.length) throw new Error(`figure files missing or empty: ${missing.join(', ')}`);
  const backendLine = /backend (.+)$/m.exec(fs.readFileSync(path.join(executed, `${chosen[0]}.ipynb`), 'utf8').replace(/\\n/g, '\n'));
  const manifest = {
    preset: o.preset,
    backend: backendLine ? backendLine[1].replace(/["\]].*$/, '') : null,
    versions: { kit: kitVersion(), node: process.version, tfjs: require('@tensorflow/tfjs/package.json').version as string, plotly: require('plotly.js-dist/package.json').version as string },
    gitCommit: gitCommit(),
    notebooks: timings,
    totalSeconds: (Date.now() - t0) / 1000,
    finishedAt: new Date().toISOString(),
  };
  writeFileAtomic(path.join(o.out, o.only ? `manifest-${o.only}.json` : 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  return { notebooks: timings, missing };
}

if (require.main === module) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const r = runFigures(o);
    console.log(`figures: ${r.notebooks.length} notebooks, all figures written to ${path.relative(process.cwd(), o.out) || '.'}`);
  } catch (e) {
    console.error(`figures: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
