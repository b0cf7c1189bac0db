/**
 * tfjs's webgpu backend on Dawn with the kit's WGSL kernels (src/backend/webgpu-kernels.ts) gives
 * the numbers of the cpu backend (losses and every gradient, relative error < 1e-4) and of wasm
 * with the native kernels (the same dropout masks, the same AdamW, the same pretraining losses).
 *
 * It runs on SwiftShader, the software Vulkan driver Debian's chromium ships, so that it runs
 * without a GPU; a machine without it skips these tests and says why. Shapes are tiny: SwiftShader
 * compiles every shader on the CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BackendInfo, BackendName, initBackend } from '../src/backend';
import { GpuCheckResult, gpuCheckReport, runGpuCheck } from '../src/bench/gpu';
import { FUSED, hasFused, runFused } from '../src/backend/fused';
import { describeAdapter, isSoftwareAdapter, releaseWebGpu } from '../src/backend/webgpu';
import { createBert, disposeBert } from '../src/model/bert';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/optimizer';
import { mlmTrainStep } from '../src/train/mlm';
import { Gates, PLD_DEFAULT, fullDepth, sampleGates } from '../src/schedule';
import { Rng } from '../src/util/rng';
import {
  LossAndGrads,
  assertSameLossAndGrads,
  maxRelErr,
  randn,
  randomBatch,
  tinyConfig,
  tinyLossAndGrads,
} from './helpers';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
// Always SwiftShader, also on a machine with a GPU: the tests check numerics, on a known driver.
// The Vulkan loader reads this when Dawn first asks for an adapter (after this line).
process.env.VK_ICD_FILENAMES = SWIFTSHADER;
const skip = fs.existsSync(SWIFTSHADER)
  ? false
  : `SwiftShader is not installed (${SWIFTSHADER}; Debian: apt-get install chromium)`;
const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');

async function on<T>(backend: BackendName, f: () => T | Promise<T>): Promise<T> {
  await initBackend({ backend, threads: 1 });
  return f();
}

const ARR = async (t: tf.Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

test.after(() => releaseWebGpu());

test(
  'webgpu on SwiftShader: the adapter is named and marked software; the kit’s kernels are registered',
  { skip },
  async () => {
    const b = await initBackend({ backend: 'webgpu' });
    assert.equal(b.backend, 'webgpu');
    assert.equal(b.gpu, false);
    assert.ok(b.adapter);
    assert.equal(b.adapter.software, true);
    assert.equal(b.adapter.vendor, 'google');
    assert.equal(b.adapter.architecture, 'swiftshader');
    assert.match(
      describeAdapter(b.adapter),
      /^google swiftshader \(SwiftShader driver [\d.]+, Dawn vulkan, software\)$/,
    );
    // WGSL versions of the elementwise kernels; the products (dense, attention, the MLM head's
    // cross-entropy), the in-place AdamW, the norms and the residual stay tfjs ops on webgpu, where
    // model/ops.ts composes them (the gradient tests below check that path against cpu).
    const wgsl: string[] = [
      FUSED.layerNorm,
      FUSED.layerNormGrad,
      FUSED.gelu,
      FUSED.geluGrad,
      FUSED.dropout,
      FUSED.maskedSoftmax,
      FUSED.softmaxGrad,
      FUSED.adamw,
    ];
    for (const k of Object.values(FUSED))
      assert.equal(hasFused(k), wgsl.includes(k), `${k} ${wgsl.includes(k) ? 'is' : 'is not'} registered on webgpu`);
  },
);

for (const norm of ['pre', 'post'] as const) {
  test(`${norm}LN model on webgpu: MLM loss and every parameter gradient match the cpu backend`, { skip }, async () => {
    const run = (): Promise<LossAndGrads> => tinyLossAndGrads(norm);
    assertSameLossAndGrads(await on('webgpu', run), await on('cpu', run), 'webgpu');
  });
}

test(
  'webgpu dropout draws the mask of the native wasm kernel (same hash of seed and index), forward and gradient',
  { skip },
  async () => {
    const cases = [
      { shape: [3, 7, 11], rate: 0.1, seed: 12345 },
      { shape: [70, 97], rate: 0.5, seed: 2 ** 32 - 1 },
      { shape: [4, 2, 9, 9], rate: 0.25, seed: 987654321 },
    ];
    const run = async (c: (typeof cases)[number]): Promise<Float32Array[]> => {
      const rng = new Rng(3);
      const x = randn(rng, c.shape);
      const w = randn(rng, c.shape);
      const f = (t: tf.Tensor): tf.Tensor => runFused(FUSED.dropout, { x: t }, { rate: c.rate, seed: c.seed })[0];
      const y = f(x);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), w)))(x);
      const out = [await ARR(y), await ARR(g)];
      tf.dispose([x, w, y, g]);
      return out;
    };
    for (const c of cases) {
      const want = await on('wasm', async () => {
        assert.ok(hasFused(FUSED.dropout), 'the native kernels are built (npm test builds them)');
        return run(c);
      });
      const got = await on('webgpu', () => run(c));
      assert.deepEqual(got[0], want[0], `${JSON.stringify(c)}: forward`);
      assert.deepEqual(got[1], want[1], `${JSON.stringify(c)}: gradient`);
      const kept = got[0].filter((v) => v !== 0).length / got[0].length;
      assert.ok(Math.abs(kept - (1 - c.rate)) < 0.1, `${JSON.stringify(c)}: kept ${kept}`);
    }
  },
);

test(
  'gatherRows gradient on webgpu (the kit’s ScatterNd) sums repeated rows like the cpu backend and leaves the others at zero',
  { skip },
  async () => {
    const idx = [3, 1, 3, 0, 3, 7, 1, 3];
    const run = async (): Promise<Float32Array> => {
      const rng = new Rng(2);
      const table = randn(rng, [9, 5]);
      const w = randn(rng, [idx.length, 5]);
      const ids = tf.tensor1d(idx, 'int32');
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), w)))(table);
      const mine = tf.scatterND(ids.reshape([-1, 1]), w, [9, 5]);
      const out = await ARR(g);
      assert.ok(maxRelErr(await ARR(mine), out) < 1e-6);
      tf.dispose([table, w, ids, g, mine]);
      return out;
    };
    const want = await on('cpu', run);
    const got = await on('webgpu', run);
    assert.ok(maxRelErr(got, want) < 1e-6, `${maxRelErr(got, want)}`);
    for (const row of [2, 4, 5, 6, 8]) for (let k = 0; k < 5; k++) assert.equal(got[row * 5 + k], 0);
  },
);

test(
  'AdamW on webgpu over several steps (weight decay, clipping scale) matches the cpu backend and native wasm',
  { skip },
  async () => {
    const run = async (): Promise<Float32Array[]> => {
      const rng = new Rng(4);
      const params = new Map<string, tf.Variable>([
        ['a.weight', tf.variable(randn(rng, [6, 5]), true, 'adamw-a')],
        ['a.bias', tf.variable(randn(rng, [5]), true, 'adamw-b')],
      ]);
      const opt = new AdamW({ ...ADAMW_DEFAULTS, weightDecay: 0.1 }, new Set(['a.weight']));
      for (let t = 0; t < 5; t++) {
        const grads = new Map<string, tf.Tensor>([...params].map(([n, v]) => [n, randn(rng, v.shape, 0.3)]));
        opt.apply(params, grads, 1e-2, t === 2 ? 0.5 : 1);
        tf.dispose([...grads.values()]);
      }
      const out: Float32Array[] = [];
      for (const [n, v] of params)
        out.push(
          await ARR(v),
          await ARR((opt.state.get(n) as { m: tf.Tensor }).m),
          await ARR((opt.state.get(n) as { v: tf.Tensor }).v),
        );
      opt.dispose();
      tf.dispose([...params.values()]);
      return out;
    };
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    const gpu = await on('webgpu', run);
    for (let i = 0; i < cpu.length; i++) {
      // cpu rounds 1 − β2 from a double, the fused kernels compute it in float32: ~1e-5 apart in v.
      assert.ok(maxRelErr(gpu[i], cpu[i]) < 1e-4, `output ${i} vs cpu: ${maxRelErr(gpu[i], cpu[i])}`);
      assert.ok(maxRelErr(gpu[i], wasm[i]) < 1e-6, `output ${i} vs wasm: ${maxRelErr(gpu[i], wasm[i])}`);
    }
  },
);

test(
  'a PLD step with a dropped block on webgpu: same loss, norms and updated weights as the cpu backend; the dropped block untouched',
  { skip },
  async () => {
    const c = tinyConfig({ layers: 3 });
    const gates: Gates = { theta: 0.6, keep: [true, false, true], scale: [0.9, 0.8, 0.6] };
    const dropped = 'bert.encoder.layer.1.intermediate.dense.weight';
    const run = async (): Promise<{
      r: Awaited<ReturnType<typeof mlmTrainStep>>;
      w: Map<string, Float32Array>;
      before: Float32Array;
    }> => {
      const m = createBert(c, new Rng(11));
      const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
      const rng = new Rng(12);
      const batch = randomBatch(rng, c, 2, 8);
      const before = await ARR(m.params.get(dropped) as tf.Variable);
      const r = await mlmTrainStep(m, opt, batch, { gates, rng, lr: 1e-3, clipNorm: 0.5, step: 0 });
      const w = new Map<string, Float32Array>();
      for (const [n, v] of m.params) w.set(n, await ARR(v));
      assert.equal(opt.state.has(dropped), false);
      opt.dispose();
      disposeBert(m);
      return { r, w, before };
    };
    const want = await on('cpu', run);
    const got = await on('webgpu', run);
    assert.ok(Math.abs(got.r.loss - want.r.loss) / want.r.loss < 1e-5, `loss ${got.r.loss} vs ${want.r.loss}`);
    assert.ok(
      Math.abs(got.r.gradNorm - want.r.gradNorm) / want.r.gradNorm < 1e-4,
      `grad norm ${got.r.gradNorm} vs ${want.r.gradNorm}`,
    );
    assert.equal(got.r.blockGradNorms[1], null);
    for (const i of [0, 2])
      assert.ok(
        Math.abs((got.r.blockGradNorms[i] as number) / (want.r.blockGradNorms[i] as number) - 1) < 1e-4,
        `block ${i}`,
      );
    assert.deepEqual(got.w.get(dropped), got.before);
    for (const [n, w] of want.w) {
      // Its gradient is analytically zero (softmax is shift-invariant) and Adam normalises the rounding noise.
      if (n.endsWith('attention.self.key.bias')) continue;
      assert.ok(
        maxRelErr(got.w.get(n) as Float32Array, w) < 1e-4,
        `${n}: ${maxRelErr(got.w.get(n) as Float32Array, w)}`,
      );
    }
  },
);

/**
 * Pretraining steps with dropout and PLD gates: losses, and on webgpu how many GPU → CPU copies
 * each step made (`getBufferData`, which every read of GPU-resident data goes through; small
 * tensors still on the CPU are read without one).
 */
async function pretrainSteps(
  steps: number,
): Promise<{ losses: number[]; reads: number[]; tensors: number[]; bytes: number[] }> {
  const c = tinyConfig({ hiddenDropout: 0.1, attentionDropout: 0.1 });
  const m = createBert(c, new Rng(7));
  const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
  const rng = new Rng(8);
  const be = tf.backend() as unknown as { getBufferData?: (...a: unknown[]) => unknown };
  const copy = be.getBufferData;
  let reads = 0;
  if (copy) be.getBufferData = (...a) => (reads++, copy.apply(be, a));
  const out = { losses: [] as number[], reads: [] as number[], tensors: [] as number[], bytes: [] as number[] };
  try {
    for (let t = 0; t < steps; t++) {
      const batch = randomBatch(rng, c, 2, 8);
      const gates = sampleGates({ ...PLD_DEFAULT, gamma: 0.3 }, c.layers, t, rng);
      reads = 0;
      out.losses.push((await mlmTrainStep(m, opt, batch, { gates, rng, lr: 1e-3, clipNorm: 1, step: t })).loss);
      out.reads.push(reads);
      const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      out.tensors.push(mem.numTensors);
      out.bytes.push(mem.numBytesInGPU ?? mem.numBytes);
    }
  } finally {
    if (copy) be.getBufferData = copy;
    opt.dispose();
    disposeBert(m);
  }
  return out;
}

test(
  'pretraining steps with dropout and dropped blocks: webgpu losses match native wasm; one read-back per step; no tensor or GPU-memory leak',
  { skip },
  async () => {
    const wasm = await on('wasm', () => pretrainSteps(4));
    const gpu = await on('webgpu', () => pretrainSteps(12));
    for (let t = 0; t < wasm.losses.length; t++) {
      assert.ok(
        Math.abs(gpu.losses[t] - wasm.losses[t]) / wasm.losses[t] < 1e-4,
        `step ${t}: ${gpu.losses[t]} vs ${wasm.losses[t]}`,
      );
    }
    assert.deepEqual(
      gpu.reads,
      gpu.reads.map(() => 1),
      'the statistics the log needs, in one transfer',
    );
    // Every block has run and has optimizer state after a few steps; from then on nothing grows.
    assert.deepEqual(
      gpu.tensors.slice(6),
      gpu.tensors.slice(6).map(() => gpu.tensors[6]),
      `tensors alive: ${gpu.tensors}`,
    );
    // GPU bytes in use move with buffers awaiting the next queue submission, within a fixed bound.
    assert.ok(Math.max(...gpu.bytes.slice(6)) <= Math.max(...gpu.bytes.slice(0, 6)), `GPU bytes in use: ${gpu.bytes}`);
    // Same seed, same losses: the embedding gradient sums in a fixed order.
    const again = await pretrainSteps(4);
    assert.deepEqual(again.losses, gpu.losses.slice(0, 4));
  },
);

test('software adapters are recognised by Dawn’s fallback flag or their driver names', () => {
  const hw = {
    vendor: 'nvidia',
    architecture: 'hopper',
    device: '',
    description: 'NVIDIA H100',
    isFallbackAdapter: false,
  };
  assert.equal(isSoftwareAdapter(hw), false);
  assert.equal(isSoftwareAdapter({ ...hw, isFallbackAdapter: true }), true);
  assert.equal(
    isSoftwareAdapter({
      vendor: 'mesa',
      architecture: '',
      device: 'llvmpipe (LLVM 15.0.6, 256 bits)',
      description: '',
    }),
    true,
  );
  assert.equal(
    describeAdapter({ ...hw, dawnBackend: 'vulkan', software: false, dawnNode: '0.6.2' }),
    'nvidia hopper (NVIDIA H100, Dawn vulkan, hardware)',
  );
});

test('the GPU check report: parity verdict, both engines per step, the ratio to wasm, unmeasured rows say why', () => {
  const gpu = {
    backend: 'webgpu',
    tfjsVersion: '4.22.0',
    gpu: true,
    adapter: {
      vendor: 'nvidia',
      architecture: 'hopper',
      device: 'x',
      description: 'H100',
      dawnBackend: 'vulkan',
      software: false,
      dawnNode: '0.6.2',
    },
  } as BackendInfo;
  const wasm = {
    backend: 'wasm',
    tfjsVersion: '4.22.0',
    gpu: false,
    threads: 16,
    simd: true,
    native: null,
    adapter: null,
  } as BackendInfo;
  const r: GpuCheckResult = {
    webgpu: gpu,
    wasm,
    parity: { webgpu: [6.9, 6.8, 6.7], wasm: [6.9, 6.8, 6.7001], maxRelDiff: 1.5e-5, ok: true },
    rows: [
      {
        setup: 'ref',
        webgpu: { engine: 'tfjs webgpu', steps: 10, msPerStep: 20, tokensPerSec: 102400, gpuMib: 300 },
        wasm: { engine: 'tfjs wasm', steps: 10, msPerStep: 500, tokensPerSec: 4096, gpuMib: null },
      },
      {
        setup: 'base',
        webgpu: { engine: 'tfjs webgpu', steps: 10, msPerStep: 400, tokensPerSec: 10240, gpuMib: 6000 },
        wasm: { engine: 'tfjs wasm', unavailable: 'the wasm backend ran out of memory' },
      },
    ],
  };
  const lines = gpuCheckReport(r).split('\n');
  assert.equal(
    lines[0],
    '**GPU check**: webgpu (GPU: nvidia hopper (H100, Dawn vulkan, hardware), tfjs 4.22.0); against wasm (no GPU, SIMD, 16 threads, tfjs 4.22.0)',
  );
  assert.match(lines[2], /largest relative difference 1\.50e-5: ok$/);
  assert.equal(lines[6], '| ref | tfjs webgpu | 10 | 20.0 | 102400 | 25.00× | 300 |');
  assert.equal(lines[7], '| ref | tfjs wasm | 10 | 500.0 | 4096 | 1.00× | — |');
  assert.equal(lines[8], '| base | tfjs webgpu | 10 | 400.0 | 10240 | — | 6000 |');
  assert.equal(lines[9], '| base | tfjs wasm | not measured: the wasm backend ran out of memory |  |  |  |  |');
  assert.equal(lines.length, 10, 'no software-adapter warning on hardware');
  const bad = gpuCheckReport({ ...r, parity: { ...r.parity, maxRelDiff: 3e-3, ok: false } });
  assert.match(bad.split('\n')[2], /largest relative difference 3\.00e-3: MISMATCH \(over 0\.0001\)$/);
});

test('pld bench --gpu rejects options it does not take, in one line', () => {
  const run = (...args: string[]): { status: number | null; err: string } => {
    const r = spawnSync(process.execPath, [CLI, 'bench', ...args], { encoding: 'utf8' });
    return { status: r.status, err: r.stderr.trim() };
  };
  assert.deepEqual(run('--gpu', '--backend', 'wasm', '--only', 'pld'), {
    status: 1,
    err: 'pld bench: --gpu compares webgpu with wasm by itself; drop --backend, --only',
  });
  assert.deepEqual(run('--no-base'), { status: 1, err: 'pld bench: --no-base goes with --gpu' });
});

test(
  'the GPU check end to end on tiny models: parity holds, both engines timed, GPU memory reported, nothing left behind',
  { skip },
  async () => {
    const tiny = (label: string, batchSize: number) => ({
      label,
      model: tinyConfig({ hiddenDropout: 0.1, attentionDropout: 0.1 }),
      batchSize,
      seqLen: 8,
    });
    const before = process.env.PLD_BACKEND;
    process.env.PLD_BACKEND = 'webgpu'; // SwiftShader is a software adapter: the check runs on it only when forced
    try {
      const lines: string[] = [];
      await initBackend({ backend: 'webgpu' });
      const tensors = tf.memory().numTensors;
      const r = await runGpuCheck({
        steps: 1,
        base: true,
        log: (s) => lines.push(s),
        setups: { reference: tiny('ref', 2), base: tiny('big', 4) },
      });
      assert.ok(r.parity.ok, `parity ${r.parity.maxRelDiff}`);
      assert.equal(r.parity.webgpu.length, 3);
      assert.equal(r.rows.length, 2);
      for (const row of r.rows) {
        assert.ok(
          'msPerStep' in row.webgpu && row.webgpu.msPerStep > 0 && row.webgpu.gpuMib !== null && row.webgpu.gpuMib > 0,
        );
        assert.ok('msPerStep' in row.wasm && row.wasm.gpuMib === null);
      }
      assert.equal((r.rows[1].wasm as { steps: number }).steps, 1, 'the big model gets one timed step on wasm');
      assert.match(
        gpuCheckReport(r),
        /\n\nThe adapter is a software one \(the GPU API on the CPU\): these are no GPU timings\.$/,
      );
      assert.match(lines[0], /^webgpu: webgpu \(software, no GPU: google swiftshader/);
      assert.equal(tf.memory().numTensors, tensors);
    } finally {
      if (before === undefined) delete process.env.PLD_BACKEND;
      else process.env.PLD_BACKEND = before;
    }
  },
);

test(
  'fused kernels on shapes that span many workgroups (rows longer than a workgroup, a dispatch reshaped past 65535 workgroups) match tfjs’s ops or a plain loop',
  { skip },
  async () => {
    await initBackend({ backend: 'webgpu' });
    const rng = new Rng(9);
    const check = async (label: string, got: tf.Tensor, want: tf.Tensor, tol = 1e-5): Promise<void> => {
      const e = maxRelErr(await ARR(got), await ARR(want));
      assert.ok(e < tol, `${label}: rel err ${e}`);
    };
    // LayerNorm and its gradient: 200 columns (4 per thread of a row's workgroup; 7 column groups).
    const x = randn(rng, [37, 200]);
    const gamma = randn(rng, [200]);
    const beta = randn(rng, [200]);
    const dy = randn(rng, [37, 200]);
    const lnRef = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
      const { mean, variance } = tf.moments(a, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
    };
    const lnFused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor =>
      runFused(FUSED.layerNorm, { x: a, gamma: g, beta: b }, { eps: 1e-5 })[0];
    await check('layerNorm', lnFused(x, gamma, beta), lnRef(x, gamma, beta));
    const gFused = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(lnFused(a, g, b), dy)))([
      x,
      gamma,
      beta,
    ]);
    const gRef = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(lnRef(a, g, b), dy)))([
      x,
      gamma,
      beta,
    ]);
    for (let i = 0; i < 3; i++) await check(`layerNorm gradient ${i}`, gFused[i], gRef[i], 1e-4);
    // Masked softmax over 70 keys, and 66 000 rows of 4 keys (more workgroups than one dimension
    // holds), against a plain loop (the package's own softmax gets the last row of the second wrong).
    for (const [B, H, S] of [
      [2, 3, 70],
      [1, 16500, 4],
    ]) {
      const scores = randn(rng, [B, H, S, S]) as tf.Tensor4D;
      const biasValues = Float32Array.from({ length: B * S }, (_, i) => (i % S === S - 1 ? -10000 : 0));
      const bias = tf.tensor2d(biasValues, [B, S]);
      const s = await ARR(scores);
      const want = new Float32Array(s.length);
      for (let r = 0; r < B * H * S; r++) {
        const b = Math.floor(r / (H * S));
        const z = Array.from({ length: S }, (_, j) => 0.3 * s[r * S + j] + biasValues[b * S + j]);
        const mx = Math.max(...z);
        const e = z.map((v) => Math.exp(v - mx));
        const sum = e.reduce((p, q) => p + q, 0);
        e.forEach((v, j) => (want[r * S + j] = v / sum));
      }
      const got = await ARR(runFused(FUSED.maskedSoftmax, { scores, bias }, { scale: 0.3 })[0]);
      assert.ok(maxRelErr(got, want) < 1e-5, `maskedSoftmax [${B}, ${H}, ${S}, ${S}]: rel err ${maxRelErr(got, want)}`);
      tf.dispose([scores, bias]);
    }
    // GELU over 4.3 M elements: 67 000 workgroups of 64.
    const big = randn(rng, [4_300_000], 2);
    const geluRef = tf.mul(tf.mul(big, 0.5), tf.add(tf.erf(tf.mul(big, Math.SQRT1_2)), 1));
    await check('gelu', runFused(FUSED.gelu, { x: big })[0], geluRef, 1e-6);
    tf.disposeVariables();
  },
);

test(
  'an error the GPU reports (here an invalid buffer) ends the training step in one line; the next step runs',
  { skip },
  async () => {
    await initBackend({ backend: 'webgpu' });
    const c = tinyConfig();
    const m = createBert(c, new Rng(1));
    const opt = new AdamW(ADAMW_DEFAULTS, m.decay);
    const rng = new Rng(2);
    const step = (t: number): ReturnType<typeof mlmTrainStep> =>
      mlmTrainStep(m, opt, randomBatch(rng, c, 2, 8), { gates: fullDepth(3), rng, lr: 1e-3, clipNorm: 1, step: t });
    const device = (
      tf.backend() as unknown as { device: { createBuffer(d: { size: number; usage: number }): unknown } }
    ).device;
    device.createBuffer({ size: 4, usage: 0 }); // a validation error, reported as an event
    await assert.rejects(step(0), (e: Error) => {
      assert.match(
        e.message,
        /^the GPU reported an error \(.+\); the step's results are not valid and training stopped\. Checkpoints already written are intact$/,
      );
      return true;
    });
    assert.ok(Number.isFinite((await step(1)).loss));
    opt.dispose();
    disposeBert(m);
  },
);
