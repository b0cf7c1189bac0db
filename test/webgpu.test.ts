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
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { BackendName, initBackend } from '../src/backend';
import { FUSED, hasFused, runFused } from '../src/backend/fused';
import { describeAdapter, releaseWebGpu } from '../src/backend/webgpu';
import { activeParamNames, createBert, disposeBert } from '../src/model/bert';
import { ADAMW_DEFAULTS, AdamW } from '../src/train/optimizer';
import { mlmLoss, mlmTrainStep } from '../src/train/mlm';
import { Gates, PLD_DEFAULT, fullDepth, sampleGates } from '../src/schedule';
import { Rng } from '../src/util/rng';
import { maxRelErr, randn, randomBatch, tinyConfig } from './helpers';

const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';
// The Vulkan loader reads this when Dawn first asks for an adapter (after this line).
if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER)) process.env.VK_ICD_FILENAMES = SWIFTSHADER;
const skip = fs.existsSync(process.env.VK_ICD_FILENAMES ?? SWIFTSHADER) ? false : `SwiftShader is not installed (${SWIFTSHADER}; Debian: apt-get install chromium)`;

async function on<T>(backend: BackendName, f: () => T | Promise<T>): Promise<T> {
  await initBackend({ backend, threads: 1 });
  return f();
}

const ARR = async (t: tf.Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

test.after(() => releaseWebGpu());

test('webgpu on SwiftShader: the adapter is named and marked software; the kit’s kernels are registered', { skip }, async () => {
  const b = await initBackend({ backend: 'webgpu' });
  assert.equal(b.backend, 'webgpu');
  assert.equal(b.gpu, false);
  assert.ok(b.adapter);
  assert.equal(b.adapter.software, true);
  assert.equal(b.adapter.vendor, 'google');
  assert.equal(b.adapter.architecture, 'swiftshader');
  assert.match(describeAdapter(b.adapter), /^google swiftshader \(SwiftShader driver [\d.]+, Dawn vulkan, software\)$/);
  for (const k of Object.values(FUSED)) assert.ok(hasFused(k), `${k} is registered on webgpu`);
});

for (const norm of ['pre', 'post'] as const) {
  test(`${norm}LN model on webgpu: MLM loss and every parameter gradient match the cpu backend`, { skip }, async () => {
    const c = tinyConfig({ norm, layers: 2 });
    const gates: Gates = { theta: 0.7, keep: [true, true], scale: [0.85, 0.7] };
    const run = async (): Promise<{ loss: number; grads: Map<string, Float32Array> }> => {
      const m = createBert(c, new Rng(5));
      const batch = randomBatch(new Rng(6), c, 3, 10);
      const names = activeParamNames(m, gates, { mlm: true, cls: false });
      const vars = names.map((n) => m.params.get(n) as tf.Variable);
      const { value, grads } = tf.variableGrads(() => mlmLoss(m, batch, { training: true, gates, rng: new Rng(0) }), vars);
      const out = new Map<string, Float32Array>();
      for (let i = 0; i < names.length; i++) out.set(names[i], await ARR(grads[vars[i].name]));
      const loss = (await value.data())[0];
      tf.dispose([value, ...Object.values(grads)]);
      disposeBert(m);
      return { loss, grads: out };
    };
    const want = await on('cpu', run);
    const got = await on('webgpu', run);
    assert.ok(Math.abs(got.loss - want.loss) / want.loss < 1e-5, `loss ${got.loss} vs ${want.loss}`);
    assert.equal(got.grads.size, want.grads.size);
    for (const [n, g] of want.grads) {
      if (n.endsWith('attention.self.key.bias')) {
        // Analytically zero (softmax is shift-invariant per query row): both must be ~0.
        for (const x of [...g, ...(got.grads.get(n) as Float32Array)]) assert.ok(Math.abs(x) < 1e-5, `${n}: ${x}`);
        continue;
      }
      const e = maxRelErr(got.grads.get(n) as Float32Array, g);
      assert.ok(e < 1e-4, `${n}: rel err ${e}`);
    }
  });
}
