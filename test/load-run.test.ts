/**
 * loadRun: a real (quick, 12-step) run's folder as DataFrames, compared with the logs it returned;
 * a folder that is not a run is one line naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pretrain } from '../src/train/pretrain';
import { loadRun } from '../src/experiments/load-run';

test(
  'loadRun: steps, evaluations, per-block gradient norms and manifest as DataFrames',
  { timeout: 300_000 },
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-loadrun-'));
    try {
      const out = path.join(dir, 'run');
      const r = await pretrain({
        variant: 'preln-pld',
        preset: 'quick',
        out,
        quiet: true,
        backend: 'wasm',
        threads: 1,
        overrides: [{ train: { steps: 12, evalEvery: 5 } }],
      });
      const run = loadRun(out);
      assert.equal(run.dir, out);
      assert.deepEqual(run.steps.shape, [12, 10]);
      assert.deepEqual(run.steps.columns, [
        'step',
        'lr',
        'loss',
        'theta',
        'expectedBlocks',
        'blocksRun',
        'samplesPerSec',
        'trainSeconds',
        'timed',
        'gradNorm',
      ]);
      assert.deepEqual(
        run.steps.column('loss').values,
        r.steps.map((s) => s.loss),
      );
      assert.deepEqual(
        run.steps.column('theta').values,
        r.steps.map((s) => s.theta),
      );
      // Evaluations at steps 5, 10 and the last (12).
      assert.deepEqual(run.evals.column('step').values, [5, 10, 12]);
      assert.deepEqual(
        run.evals.column('valLoss').values,
        r.evals.map((e) => e.valLoss),
      );
      // Gradient norms every 10 steps (quick preset): steps 0 and 10, blocks numbered from 1.
      assert.deepEqual(run.gradNorms.column('step').values, [0, 10]);
      assert.deepEqual(run.gradNorms.columns, ['step', 'block_1', 'block_2', 'block_3', 'block_4']);
      const fields = run.manifest.column('field').values as string[];
      const values = run.manifest.column('value').values as string[];
      assert.equal(values[fields.indexOf('status')], 'finished');
      assert.equal(values[fields.indexOf('config.model.layers')], '4');
      assert.equal(run.info.variant, 'preln-pld');
      // A run with no evaluation yet still has the evaluation columns.
      fs.writeFileSync(path.join(out, 'eval.jsonl'), '');
      assert.deepEqual(loadRun(out).evals.columns, [
        'step',
        'valLoss',
        'valAccuracy',
        'unigramLoss',
        'unigramAccuracy',
        'trainSeconds',
      ]);
      assert.deepEqual(run.evals.columns, [
        'step',
        'valLoss',
        'valAccuracy',
        'unigramLoss',
        'unigramAccuracy',
        'trainSeconds',
      ]);
      assert.throws(() => loadRun(dir), {
        message: `loadRun: ${dir} is not a pretraining run (no manifest.json); pass the folder pretrain wrote, e.g. runs/<preset>/<variant>-s<seed>-lr<lr>`,
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
