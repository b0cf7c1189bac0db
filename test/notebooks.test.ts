/**
 * Every notebook runs headless through the real Jupyter client (tslab kernel) on the quick preset,
 * from scratch, writes all its figures, and then shows them as interactive charts when opened in
 * classic Notebook 6 in headless Chromium. Skipped, with the reason, where Jupyter is absent
 * (`npm test` installs it through scripts/setup.sh, so CI never skips).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXPECTED_FIGURES } from '../scripts/figures';
import { plotlyBundle } from '../src/plots/export';
import { resolveConfig } from '../src/train/config';
import { UNTIMED_STEPS } from '../src/train/pretrain';
import { TARGET_OFFSETS } from '../src/experiments/analysis';
import { OFFLINE_TASKS } from '../src/tasks/offline';

/** What a reader sees of each figure in an executed notebook: title, axis titles, series and their sizes. */
interface Seen {
  title: string;
  x: string;
  y: string;
  series: { name: string; points: number }[];
}

function figuresIn(file: string): Seen[] {
  type Fig = {
    data: { name?: string; x?: unknown[] }[];
    layout: Record<string, { title?: { text?: string }; text?: string } | undefined>;
  };
  const cells = (
    JSON.parse(fs.readFileSync(file, 'utf8')) as { cells: { outputs?: { data?: Record<string, unknown> }[] }[] }
  ).cells;
  const figs = cells
    .flatMap((c) => c.outputs ?? [])
    .flatMap((o) =>
      o.data?.['application/vnd.plotly.v1+json'] ? [o.data['application/vnd.plotly.v1+json'] as Fig] : [],
    );
  return figs.map((f) => ({
    title: f.layout.title?.text ?? '',
    x: f.layout.xaxis?.title?.text ?? '',
    y: f.layout.yaxis?.title?.text ?? '',
    series: f.data.map((t) => ({ name: t.name ?? '', points: t.x?.length ?? 0 })),
  }));
}

/** Asserts the figure's titles and its series, by name (string or pattern) and point count. */
function assertFigure(
  f: Seen,
  want: { title: RegExp; x: string; y: string; series: [string | RegExp, number][] },
): void {
  assert.match(f.title, want.title);
  assert.equal(f.x, want.x, `${f.title}: x axis`);
  assert.equal(f.y, want.y, `${f.title}: y axis`);
  assert.equal(f.series.length, want.series.length, `${f.title}: ${f.series.map((s) => s.name).join(' / ')}`);
  want.series.forEach(([name, points], i) => {
    if (typeof name === 'string') assert.equal(f.series[i].name, name, `${f.title}: series ${i}`);
    else assert.match(f.series[i].name, name, `${f.title}: series ${i}`);
    assert.equal(f.series[i].points, points, `${f.title}: ${f.series[i].name} points`);
  });
}

/** The figures of the quick notebooks, as their Plotly JSON says; counts follow from the quick preset. */
function assertFigureContents(nbDir: string): void {
  const q = resolveConfig('preln', 'quick');
  const L = q.model.layers;
  const steps = q.train.steps;
  const evals = Math.ceil(steps / q.train.evalEvery);
  const normSteps = Array.from(
    { length: Math.ceil(steps / q.train.gradNormEvery) },
    (_, i) => i * q.train.gradNormEvery,
  );
  const unigram = /^unigram model, no context \(\d+\.\d\d\)$/;

  const [norms] = figuresIn(path.join(nbDir, '01-gradient-norms.ipynb'));
  assertFigure(norms, {
    title: /^Gradient norm per block during training \(paper Fig\. 1\)/,
    x: 'block index l (1 = input side)',
    y: 'gradient L2 norm (log scale)',
    series: ['PostLN', 'PreLN'].flatMap((v) => normSteps.map((t): [string, number] => [`${v}, step ${t}`, L])),
  });

  const [theta, keep, depth, rule] = figuresIn(path.join(nbDir, '02-schedule.ipynb'));
  assert.match(theta.title, /^Temporal schedule θ\(t\)/);
  assert.equal(theta.series[0].name, 'θ̄ = 0.5, γ = 0.001 (DeepSpeed default)');
  assert.match(keep.title, /^Keep probability p_l\(t\)/);
  assert.equal(depth.series.length % 2, 0, 'expected and sampled blocks per schedule');
  assertFigure(rule, {
    title: /^Keep probability by block: the paper vs DeepSpeed$/,
    x: 'block index l (1 = input side)',
    y: 'probability',
    series: [
      ['paper: keep probability = rescale p_l', 12],
      ['DeepSpeed: keep probability', 12],
      ['DeepSpeed: rescale divisor', 12],
    ],
  });

  const speed = figuresIn(path.join(nbDir, '03-speedup.ipynb'));
  const byTitle = (t: RegExp): Seen =>
    speed.find((f) => t.test(f.title)) ?? assert.fail(`03-speedup has no figure titled ${t}`);
  const variants = ['PostLN', 'PreLN', 'PreLN+PLD'];
  assertFigure(byTitle(/^Training time per sample$/), {
    title: /./,
    x: 'optimizer step',
    y: 'time per sample (ms)',
    series: [
      ...variants.map((v): [string, number] => [`${v} (measured)`, steps - UNTIMED_STEPS]),
      ['PreLN+PLD (ideal)', steps - UNTIMED_STEPS],
    ],
  });
  for (const [t, x] of [
    [/^Validation MLM loss vs steps$/, 'optimizer step'],
    [/^Validation MLM loss vs training time$/, 'training time (s)'],
  ] as const) {
    assertFigure(byTitle(t), {
      title: /./,
      x,
      y: 'validation MLM loss (nats/token)',
      series: [
        ...variants.map((v): [string, number] => [v, evals]),
        [unigram, 2],
        [/^input copy, no context \(\d+\.\d\d\)$/, 2],
      ],
    });
  }
  assertFigure(byTitle(/^Time to quality/), {
    title: /./,
    x: 'target validation loss: nats below the unigram line (target)',
    y: 'speedup (×), training seconds to the target',
    series: [
      ['over PostLN', TARGET_OFFSETS.length],
      ['over PreLN', TARGET_OFFSETS.length],
    ],
  });

  const [ft] = figuresIn(path.join(nbDir, '04-glue-finetune.ipynb'));
  assert.match(ft.title, /^Fine-tuning: dev score by task \(median over seeds/);
  assert.deepEqual(
    ft.series.map((s) => s.points),
    ft.series.map(() => OFFLINE_TASKS.length),
  );
  assert.deepEqual(
    ft.series.slice(-2).map((s) => s.name),
    ['random init (control)', 'constant baseline'],
  );
}

const RUNNER = path.join(__dirname, '..', 'scripts', 'figures.js');
const haveJupyter =
  fs.existsSync('/usr/bin/jupyter') && fs.existsSync('/usr/bin/jupyter-notebook') && fs.existsSync('/usr/bin/chromium');
const skip = haveJupyter
  ? false
  : 'Jupyter, its Notebook 6 server or Chromium missing: run `bash scripts/setup.sh test`';

test('all four notebooks execute on the quick preset and write every figure', { skip, timeout: 900_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-nb-'));
  const out = path.join(dir, 'figures');
  const r = spawnSync(process.execPath, [RUNNER, '--preset', 'quick', '--out', out], {
    encoding: 'utf8',
    env: { ...process.env, PLD_RUNS_DIR: path.join(dir, 'runs'), PLD_BACKEND: process.env.PLD_BACKEND ?? 'wasm' },
  });
  assert.equal(r.status, 0, r.stderr);
  for (const figs of Object.values(EXPECTED_FIGURES)) {
    for (const f of figs) {
      const png = fs.readFileSync(path.join(out, `${f}.png`));
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${f}.png is a PNG`);
      assert.ok(png.length > 10_000, `${f}.png has content`);
      assert.match(fs.readFileSync(path.join(out, `${f}.svg`), 'utf8'), /^<svg/);
      const html = fs.readFileSync(path.join(out, `${f}.html`), 'utf8');
      assert.doesNotMatch(html, /<script[^>]+src=/, `${f}.html loads nothing from outside`);
      assert.ok(html.includes(plotlyBundle()), `${f}.html inlines plotly.js`);
    }
  }
  const nb = JSON.parse(fs.readFileSync(path.join(out, 'notebooks', '01-gradient-norms.ipynb'), 'utf8')) as {
    cells: { outputs?: { output_type: string; data?: Record<string, unknown> }[] }[];
  };
  const bundles = nb.cells
    .flatMap((c) => c.outputs ?? [])
    .filter((o) => o.output_type === 'display_data' && o.data && 'application/vnd.plotly.v1+json' in o.data);
  assert.ok(
    bundles.length >= 1 && bundles.every((o) => 'image/png' in (o.data ?? {})),
    'figures carry Plotly JSON and a PNG in one output',
  );
  // The runner opened every executed notebook in Notebook 6 + Chromium (figures interactive, Markdown
  // formatted, no errors; scripts/notebook-browser.ts) and saved a screenshot of each.
  assert.match(
    r.stdout,
    /^figures: in the browser, 01-gradient-norms 1 interactive figures, 02-schedule 4 interactive figures, 03-speedup 5 interactive figures, 04-glue-finetune 1 interactive figures; /m,
  );
  for (const n of ['01-gradient-norms', '02-schedule', '03-speedup', '04-glue-finetune']) {
    const jpg = fs.readFileSync(path.join(out, 'notebooks', `${n}.jpg`));
    assert.deepEqual([...jpg.subarray(0, 3)], [0xff, 0xd8, 0xff], `${n}.jpg is a JPEG`);
    // One plotly.js (1.5 MB) per notebook and small figures: reviewable in git.
    const size = fs.statSync(path.join(out, 'notebooks', `${n}.ipynb`)).size;
    assert.ok(size < 3_000_000, `${n}.ipynb is ${size} bytes`);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.preset, 'quick');
  assert.deepEqual(
    manifest.notebooks.map((n: { name: string }) => n.name),
    ['01-gradient-norms', '02-schedule', '03-speedup', '04-glue-finetune'],
  );
  assert.match(manifest.backend, /^wasm/);
  // The claims table, computed from the runs the notebooks made; every verdict one of the four.
  const claims = JSON.parse(fs.readFileSync(path.join(out, 'claims.json'), 'utf8')) as {
    preset: string;
    claims: { id: string; verdict: string }[];
  };
  assert.equal(claims.preset, 'quick');
  assert.deepEqual(
    claims.claims.map((c) => c.id),
    ['gradient-norms', 'time-per-sample', 'speedup', 'lr-robustness', 'finetune-parity'],
  );
  assert.ok(claims.claims.every((c) => ['reproduced', 'partly', 'not reproduced', 'not measured'].includes(c.verdict)));
  assertFigureContents(path.join(out, 'notebooks'));
  fs.rmSync(dir, { recursive: true, force: true }); // kept when an assertion fails, to look at
});

test('a failing cell fails the run and its message reaches the console', { skip, timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-nb-bad-'));
  const nb = {
    cells: [
      { cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source: 'const x = 1;' },
      {
        cell_type: 'code',
        id: 'b',
        metadata: {},
        execution_count: null,
        outputs: [],
        source: "throw new Error('boom in cell b');",
      },
    ],
    metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.mkdirSync(path.join(dir, 'nbs'));
  fs.writeFileSync(path.join(dir, 'nbs', 'bad.ipynb'), JSON.stringify(nb));
  const r = spawnSync(
    process.execPath,
    [RUNNER, '--preset', 'quick', '--notebooks', path.join(dir, 'nbs'), '--out', path.join(dir, 'out')],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /^figures: bad\.ipynb: cell 1 \(throw new Error\('boom in cell b'\);\) failed: .*boom in cell b/m,
  );
});
