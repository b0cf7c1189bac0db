/**
 * The benchmark's bookkeeping (not its speed): MAC counts, the table's ratios, the tfjs timing
 * leaving nothing behind, the PyTorch step being the same model, and the CLI's errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import {
  EngineTiming,
  REFERENCE_STEP,
  ThroughputSetup,
  findTorchPython,
  measureRoofline,
  stepMacs,
  stepProducts,
  throughputTable,
  timeTfjs,
  timeTorch,
} from '../src/bench/throughput';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');
const TINY: ThroughputSetup = {
  label: 'tiny',
  model: {
    ...REFERENCE_STEP.model,
    layers: 2,
    hidden: 16,
    heads: 2,
    intermediate: 32,
    vocabSize: 60,
    maxPositions: 16,
  },
  batchSize: 2,
  seqLen: 8,
};
const TIMING = { steps: 2, warmup: 1, phaseReps: 1 };

test('MACs of the reference step: 3 × (blocks × (4·S·H² + 2·S²·H + 2·S·H·F) + masked × (H² + H·V))', () => {
  const [S, H, F, V, L, B] = [128, 128, 512, 1000, 4, 16];
  const masked = 300;
  const want = 3 * (B * L * (4 * S * H * H + 2 * S * S * H + 2 * S * H * F) + masked * (H * H + H * V));
  assert.equal(stepMacs(REFERENCE_STEP, masked), want);
  assert.ok(Math.abs(want / 1e9 - 5.77) < 0.01, `${want / 1e9} GMAC`);
  // The roofline times exactly these products.
  const listed = stepProducts(REFERENCE_STEP, masked).reduce((a, p) => a + p.count * p.m * p.n * p.k, 0);
  assert.equal(listed, want);
});

test('throughput table: ratios against the PyTorch row of the same thread count; unavailable engines say why', async () => {
  const backend = await initBackend({ backend: 'wasm', threads: 1 });
  const phases = { embeddings: 2, blocks: 30, head: 3, optimizer: 1 };
  const row = (engine: string, threads: number, ms: number): EngineTiming => ({
    engine,
    threads,
    msPerStep: ms,
    phases,
    params: 1,
    cpuPerWall: 0.98,
    kernelsPerStep: 77,
  });
  const macs = stepMacs(TINY, 3);
  // Roofline at 1 thread: the step's products in 0.5·60 ms, i.e. twice the engine's rate.
  const md = throughputTable(
    TINY,
    [
      row('tfjs x', 1, 60),
      row('PyTorch 9', 1, 40),
      row('tfjs x', 2, 50),
      { engine: 'PyTorch', unavailable: 'no torch' },
    ],
    3,
    backend,
    [{ threads: 1, ms: 30, macs }],
  );
  const lines = md.split('\n');
  assert.match(lines[0], /^\*\*tiny\*\*: [\d.]+ GMAC per step/);
  assert.equal(
    lines[2],
    '| engine | threads | CPU/wall | ms/step | tokens/s | GMAC/s | of roofline | kernels/step | embeddings ms | blocks ms | MLM head ms | optimizer ms | rest ms | × PyTorch |',
  );
  assert.equal(lines[4].split('|').slice(1, 5).join('|'), ' tfjs x | 1 | 0.98 | 60.0 ');
  assert.match(lines[4], /\| 50 % \| 77 \| 2\.0 \| 30\.0 \| 3\.0 \| 1\.0 \| 24\.0 \| 1\.50× \|$/);
  assert.match(lines[5], /\| 1\.00× \|$/);
  assert.match(lines[6], /\| — \| 77 \|.*\| — \|$/, 'no roofline and no PyTorch row at 2 threads: no ratios');
  assert.equal(lines[7], '| PyTorch |  |  | not measured: no torch |  |  |  |  |  |  |  |  |  |  |');
  assert.match(
    lines[8],
    /^\| cblas_sgemm alone at the step's shapes \(roofline\) \| 1 \| {2}\| 30\.0 \| [\d]+ \| [\d.]+ \| 100 % \|/,
  );
});

test("the roofline: cblas_sgemm through the addon at the step's shapes, at 1 and 2 threads", () => {
  for (const threads of [1, 2]) {
    const r = measureRoofline(TINY, 3, threads, 1);
    assert.ok(r, 'the native kernels are built');
    assert.equal(r.threads, threads);
    assert.equal(r.macs, stepMacs(TINY, 3));
    assert.ok(r.ms > 0 && Number.isFinite(r.ms));
  }
});

test('timing tfjs: positive step and phase times, both kernel paths, no tensors left behind', async () => {
  for (const native of [true, false]) {
    const b = await initBackend({ backend: 'wasm', threads: 1, native });
    const before = tf.memory().numTensors;
    const t = await timeTfjs(TINY, b, TIMING);
    assert.equal(t.engine, native ? 'tfjs wasm + native kernels' : 'tfjs wasm kernels only');
    assert.ok(t.kernelsPerStep !== undefined && t.kernelsPerStep > 20, `${t.kernelsPerStep} kernels`);
    assert.ok(t.msPerStep > 0);
    for (const [k, v] of Object.entries(t.phases)) assert.ok(v > 0, `${k} ${v}`);
    assert.ok(t.maskedTokens > 0);
    assert.equal(tf.memory().numTensors, before);
  }
});

test('the PyTorch step is the same model (same parameter count) when torch is installed', async (t) => {
  const py = findTorchPython();
  if (!('python' in py)) {
    assert.match(py.unavailable, /^no Python with torch \(tried .*python3/);
    t.skip(py.unavailable);
    return;
  }
  const b = await initBackend({ backend: 'wasm', threads: 1 });
  const mine = await timeTfjs(TINY, b, TIMING);
  const theirs = timeTorch(TINY, 1, TIMING, py.python);
  assert.ok(!('unavailable' in theirs), 'unavailable' in theirs ? theirs.unavailable : '');
  assert.equal(theirs.params, mine.params);
  assert.equal(theirs.threads, 1);
  assert.ok(theirs.cpuPerWall < 1.3, `PyTorch at 1 thread kept ${theirs.cpuPerWall} cores busy`);
  assert.ok(theirs.msPerStep > 0 && theirs.phases.optimizer > 0);
});

test('pld bench rejects bad options in one line', () => {
  const run = (...args: string[]): { status: number | null; err: string } => {
    const r = spawnSync(process.execPath, [CLI, 'bench', ...args], { encoding: 'utf8' });
    return { status: r.status, err: r.stderr.trim() };
  };
  assert.deepEqual(run('--threads', '0,2'), {
    status: 1,
    err: "pld bench: --threads must be a comma-separated list of whole numbers >= 1, got '0,2'",
  });
  assert.deepEqual(run('--only', 'speed'), {
    status: 1,
    err: "pld bench: --only must be throughput or pld, got 'speed'",
  });
  assert.deepEqual(run('--steps', '0'), { status: 1, err: "pld bench: --steps must be a whole number >= 1, got '0'" });
});

test('pld bench --quick runs every table end to end: roofline column, kernel counts, interleaved PLD cases, no tensors left', () => {
  const r = spawnSync(process.execPath, [CLI, 'bench', '--quick', '--threads', '1,2'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_THREADS: '2' },
  });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.match(
    out,
    /\| engine \| threads \| CPU\/wall \| ms\/step \| tokens\/s \| GMAC\/s \| of roofline \| kernels\/step \| embeddings ms \| blocks ms \| MLM head ms \| optimizer ms \| rest ms \| × PyTorch \|/,
  );
  for (const threads of [1, 2]) {
    assert.match(
      out,
      new RegExp(`\\| tfjs wasm \\+ native kernels \\| ${threads} \\|[^\\n]*\\| \\d+ % \\| \\d+ \\|`),
      `native row at ${threads} thread(s)`,
    );
    assert.match(out, new RegExp(`\\| cblas_sgemm alone at the step's shapes \\(roofline\\) \\| ${threads} \\|`));
  }
  assert.match(
    out,
    /\| case \| ms\/step \| samples\/s \| blocks run \| ideal speedup \| measured speedup \| measured\/ideal \| measured\/ideal for the blocks run \|/,
  );
  assert.match(out, /\| PreLN\+PLD θ=0\.5 \|/);
  assert.match(out, /tensors alive after the runs: 0;/);
  assert.match(out, /\*\*after the bench\*\*: tensors alive 0; peak RSS \d+ MiB/);
});
