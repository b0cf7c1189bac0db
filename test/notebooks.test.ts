/**
 * Every notebook runs headless through the real Jupyter client (tslab kernel) on the quick preset,
 * from scratch, and writes all its figures. Skipped, with the reason, where Jupyter is absent
 * (`npm test` installs it through scripts/setup.sh, so CI never skips).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXPECTED_FIGURES } from '../scripts/figures';

const RUNNER = path.join(__dirname, '..', 'scripts', 'figures.js');
const haveJupyter = fs.existsSync('/usr/bin/jupyter') && fs.existsSync('/usr/bin/chromium');
const skip = haveJupyter ? false : 'Jupyter or Chromium missing: run `bash scripts/setup.sh test`';

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
      assert.ok(html.length > 3_000_000, `${f}.html inlines plotly.js`);
    }
  }
  const nb = JSON.parse(fs.readFileSync(path.join(out, 'notebooks', '01-gradient-norms.ipynb'), 'utf8')) as { cells: { outputs?: { output_type: string; data?: Record<string, unknown> }[] }[] };
  const bundles = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'display_data' && o.data && 'application/vnd.plotly.v1+json' in o.data);
  assert.ok(bundles.length >= 1 && bundles.every((o) => 'image/png' in (o.data ?? {})), 'figures carry Plotly JSON and a PNG in one output');
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(manifest.preset, 'quick');
  assert.deepEqual(manifest.notebooks.map((n: { name: string }) => n.name), ['01-gradient-norms', '02-schedule', '03-speedup', '04-glue-finetune']);
  assert.match(manifest.backend, /^wasm/);
  // The claims table, computed from the runs the notebooks made; every verdict one of the four.
  const claims = JSON.parse(fs.readFileSync(path.join(out, 'claims.json'), 'utf8')) as { preset: string; claims: { id: string; verdict: string }[] };
  assert.equal(claims.preset, 'quick');
  assert.deepEqual(claims.claims.map((c) => c.id), ['gradient-norms', 'time-per-sample', 'speedup', 'lr-robustness', 'finetune-parity']);
  assert.ok(claims.claims.every((c) => ['reproduced', 'partly', 'not reproduced', 'not measured'].includes(c.verdict)));
});

test('a failing cell fails the run and its message reaches the console', { skip, timeout: 120_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-nb-bad-'));
  const nb = {
    cells: [
      { cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source: 'const x = 1;' },
      { cell_type: 'code', id: 'b', metadata: {}, execution_count: null, outputs: [], source: "throw new Error('boom in cell b');" },
    ],
    metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.mkdirSync(path.join(dir, 'nbs'));
  fs.writeFileSync(path.join(dir, 'nbs', 'bad.ipynb'), JSON.stringify(nb));
  const r = spawnSync(process.execPath, [RUNNER, '--preset', 'quick', '--notebooks', path.join(dir, 'nbs'), '--out', path.join(dir, 'out')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^figures: bad\.ipynb: cell 1 \(throw new Error\('boom in cell b'\);\) failed: .*boom in cell b/m);
});
