/**
 * Multi-threaded wasm (src/backend/wasm-threads.ts). Every case runs in a child process with a
 * timeout and no `process.exit`: a pthread worker left ref'd would keep it alive and fail the test.
 */
import { maxRelErr } from './helpers';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const MOD = path.join(__dirname, '..', 'src', 'backend', 'wasm-threads.js');
const TFJS = require.resolve('@tensorflow/tfjs');
const TFWASM = require.resolve('@tensorflow/tfjs-backend-wasm');
const TIMEOUT_MS = 120_000;

/** Child-side helpers: deterministic inputs and the products every configuration computes. */
const PRELUDE = `
const { initWasm } = require(${JSON.stringify(MOD)});
const tf = require(${JSON.stringify(TFJS)});
const wasm = require(${JSON.stringify(TFWASM)});
function mk(shape, seed) {
  let s = seed >>> 0;
  const n = shape.reduce((p, q) => p * q, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; v[i] = s / 2 ** 31 - 1; }
  return tf.tensor(v, shape);
}
function products() {
  return tf.tidy(() => {
    const a = mk([256, 320], 1), b = mk([320, 192], 2);
    return {
      mm: Array.from(tf.matMul(a, b).dataSync()),                      // 2-D: XNNPACK, split across the pool
      mmT: Array.from(tf.matMul(a, mk([192, 320], 3), false, true).dataSync()), // transposed: slow path
      bmm: Array.from(tf.matMul(mk([4, 33, 40], 4), mk([4, 40, 17], 5)).dataSync()),
    };
  });
}
function threadsNow() { return tf.getBackend() === 'wasm' ? wasm.getThreadsCount() : 1; }
`;

interface ChildOut {
  info: { threads: number; simd: boolean; threaded: boolean; fallback?: string } | null;
  backend: string;
  threads: number;
  mm: number[];
  mmT: number[];
  bmm: number[];
  [k: string]: unknown;
}

function runChild(body: string): ChildOut {
  const script = `${PRELUDE}\n(async () => {\n${body}\n})().catch((e) => { console.error(e && e.stack || e); process.exitCode = 1; });`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 256 << 20,
  });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  assert.equal(
    r.signal,
    null,
    `child did not exit by itself within ${TIMEOUT_MS / 1000} s (killed by ${r.signal} after ${secs} s); stderr: ${r.stderr}`,
  );
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildOut;
}

function configChild(mode: 'cpu' | number): ChildOut {
  return runChild(`
    let info = null;
    if (${JSON.stringify(mode)} === 'cpu') { await tf.setBackend('cpu'); await tf.ready(); }
    else info = await initWasm({ threads: ${JSON.stringify(mode)} });
    process.stdout.write(JSON.stringify({ info, backend: tf.getBackend(), threads: threadsNow(), ...products() }));
  `);
}

let cached: { t2: ChildOut; t1: ChildOut; cpu: ChildOut } | undefined;
function configs(): { t2: ChildOut; t1: ChildOut; cpu: ChildOut } {
  cached ??= { t2: configChild(2), t1: configChild(1), cpu: configChild('cpu') };
  return cached;
}

test('initWasm({threads: 2}) runs the threaded SIMD build with 2 threads, and the process exits by itself', () => {
  const { t2, t1 } = configs();
  assert.equal(t2.backend, 'wasm');
  assert.ok(t2.info, 'initWasm returned nothing');
  assert.equal(t2.info.fallback, undefined, `fell back to one thread: ${t2.info.fallback}`);
  assert.deepEqual(t2.info, { threads: 2, simd: true, threaded: true });
  assert.equal(t2.threads, 2, "the package's getThreadsCount() disagrees");
  assert.deepEqual(t1.info, { threads: 1, simd: true, threaded: false });
  assert.equal(t1.threads, 1);
});

test('2 threads give the same numbers as 1 thread and the cpu backend (relative error < 1e-4)', () => {
  const { t2, t1, cpu } = configs();
  assert.equal(cpu.backend, 'cpu');
  for (const k of ['mm', 'mmT', 'bmm'] as const) {
    assert.ok(maxRelErr(t2[k], t1[k]) < 1e-4, `${k}: 2 threads vs 1 thread, rel err ${maxRelErr(t2[k], t1[k])}`);
    assert.ok(maxRelErr(t2[k], cpu[k]) < 1e-4, `${k}: 2 threads vs cpu, rel err ${maxRelErr(t2[k], cpu[k])}`);
    assert.ok(maxRelErr(t1[k], cpu[k]) < 1e-4, `${k}: 1 thread vs cpu, rel err ${maxRelErr(t1[k], cpu[k])}`);
  }
});

test('the thread count can be changed in one process; the default is the available cores (at most 8)', () => {
  const out = runChild(`
    const os = require('os');
    const seen = [];
    let first;
    for (const t of [2, 1, 2, undefined, 1]) {
      const info = await initWasm(t === undefined ? {} : { threads: t });
      const p = products();
      first ??= p;
      const same = ['mm', 'mmT', 'bmm'].every((k) => p[k].every((x, i) => Math.abs(x - first[k][i]) <= 1e-4 * Math.max(1, Math.abs(first[k][i]))));
      seen.push({ asked: t ?? null, ...info, reported: threadsNow(), same });
    }
    // initWasm with the same count again reuses the backend (no new workers)
    const again = await initWasm({ threads: 1 });
    process.stdout.write(JSON.stringify({ info: null, backend: tf.getBackend(), threads: threadsNow(), mm: [], mmT: [], bmm: [], seen, again,
      expectDefault: Math.min(os.availableParallelism(), 8) }));
  `);
  const seen = out.seen as {
    asked: number | null;
    threads: number;
    threaded: boolean;
    reported: number;
    same: boolean;
    fallback?: string;
  }[];
  const dflt = out.expectDefault as number;
  assert.deepEqual(
    seen.map((s) => [s.asked, s.threads, s.threaded, s.reported, s.same, s.fallback]),
    [
      [2, 2, true, 2, true, undefined],
      [1, 1, false, 1, true, undefined],
      [2, 2, true, 2, true, undefined],
      [null, dflt, dflt > 1, dflt, true, undefined],
      [1, 1, false, 1, true, undefined],
    ],
  );
  assert.deepEqual(out.again, { threads: 1, simd: true, threaded: false });
});

test('a threaded start that fails falls back to one thread with the reason, and still exits', () => {
  const out = runChild(`
    const info = await initWasm({ threads: 2, timeoutMs: 1 });
    process.stdout.write(JSON.stringify({ info, backend: tf.getBackend(), threads: threadsNow(), ...products() }));
  `);
  assert.equal(out.backend, 'wasm');
  assert.equal(out.info?.threaded, false);
  assert.equal(out.info?.threads, 1);
  assert.equal(out.threads, 1);
  assert.match(out.info?.fallback ?? '', /did not initialise within 1 ms/);
  assert.ok(maxRelErr(out.mm, configs().cpu.mm) < 1e-4);
});

test('bad thread counts are rejected', () => {
  const out = runChild(`
    const errs = [];
    for (const t of [0, -1, 1.5, NaN]) {
      try { await initWasm({ threads: t }); errs.push(null); } catch (e) { errs.push(e.message); }
    }
    process.stdout.write(JSON.stringify({ info: null, backend: 'none', threads: 0, mm: [], mmT: [], bmm: [], errs }));
  `);
  for (const m of out.errs as (string | null)[])
    assert.match(m ?? 'accepted', /^wasm threads must be a whole number >= 1, got /);
});
