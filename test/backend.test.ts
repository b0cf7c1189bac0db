import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, describeBackend, initBackend } from '../src/backend';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');

test('wasm and cpu backends initialise and report what was chosen', async () => {
  const w = await initBackend({ backend: 'wasm', threads: 1 });
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(w.backend, 'wasm');
  assert.equal(w.package, '@tensorflow/tfjs-backend-wasm');
  assert.equal(w.gpu, false);
  assert.equal(w.tfjsVersion, '4.22.0');
  assert.ok(w.threads >= 1);
  assert.equal(backendInfo(), w);
  // The native kernels are built by `npm test`'s set-up (libopenblas-dev + node-gyp).
  assert.ok(w.native, 'native kernels are loaded');
  assert.match(w.native.blas, /^OpenBLAS \d+\.\d+/);
  assert.equal(w.native.threads, w.threads);
  assert.match(
    describeBackend(w),
    /^wasm \(no GPU, (SIMD, )?\d+ threads?, matMul in OpenBLAS \d+\.\d+\.\d+ \w+, tfjs 4\.22\.0\)$/,
  );
  const plain = await initBackend({ backend: 'wasm', threads: 1, native: false });
  assert.equal(plain.native, null);
  assert.match(describeBackend(plain), /^wasm \(no GPU, (SIMD, )?1 thread, tfjs 4\.22\.0\)$/);
  const c = await initBackend({ backend: 'cpu' });
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(c.threads, 1);
});

test('asking for a backend that is not installed names the package and how to install it', async () => {
  // tfjs-node-gpu downloads libtensorflow at install time, so it is absent here; danfojs's
  // @tensorflow/tfjs-node alias resolves to pure-JS tfjs and must not count as native.
  await assert.rejects(initBackend({ backend: 'tensorflow' }), (e: Error) => {
    assert.equal(e.message.split('\n').length, 1);
    assert.match(
      e.message,
      /^backend 'tensorflow' is not available \(@tensorflow\/tfjs-node-gpu is not installed; @tensorflow\/tfjs-node (is not installed|resolved to a package without the native backend)\); its install downloads libtensorflow 2\.9\.1, which Google no longer serves \(tensorflow\/tfjs#8742\), so a plain npm install fails; with a libtensorflow 2\.9\.1 archive of your own see docs\/gpu\.md .*; for a GPU without it use --backend webgpu$/,
    );
    return true;
  });
});

test('automatic choice falls back to wasm here and says why; bad names are rejected in one line', () => {
  const auto = spawnSync(process.execPath, [CLI, 'info'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: '' },
  });
  assert.equal(auto.status, 0, auto.stderr);
  assert.match(auto.stdout, /^backend: {2}wasm \(no GPU/m);
  assert.match(
    auto.stdout,
    /^skipped: {2}backend 'tensorflow' is not available .*; backend 'webgpu' skipped: no GPU device on this machine \(\/dev\/dri\/renderD\*, \/dev\/nvidia\*\)/m,
  );
  assert.match(
    auto.stdout,
    /^tfjs-node: optional; its install downloads libtensorflow 2\.9\.1, which Google no longer serves \(tensorflow\/tfjs#8742\): see docs\/gpu\.md$/m,
  );
  const bad = spawnSync(process.execPath, [CLI, 'info'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: 'metal' },
  });
  assert.equal(bad.status, 1);
  assert.equal(
    bad.stderr.trim(),
    "pld info: unknown backend 'metal' in PLD_BACKEND; use one of tensorflow, webgpu, wasm, cpu",
  );
  const threads = spawnSync(process.execPath, [CLI, 'info'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_THREADS: 'many' },
  });
  assert.equal(threads.stderr.trim(), "pld info: PLD_THREADS must be a whole number >= 1, got 'many'");
  const native = spawnSync(process.execPath, [CLI, 'info'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_NATIVE: 'yes' },
  });
  assert.equal(native.status, 1);
  assert.equal(
    native.stderr.trim(),
    "pld info: PLD_NATIVE must be 1 (use the native kernels when built) or 0 (wasm kernels only), got 'yes'",
  );
  const off = spawnSync(process.execPath, [CLI, 'info'], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: '', PLD_NATIVE: '0' },
  });
  assert.equal(off.status, 0, off.stderr);
  assert.match(off.stdout, /^backend: {2}wasm \(no GPU, SIMD, \d+ threads?, tfjs 4\.22\.0\)$/m);
});
