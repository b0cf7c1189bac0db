/**
 * The backend chain. tfjs runs the same model on several backends; this module picks one and
 * reports what it picked, so every result (bench table, run manifest, figure manifest) records it.
 *
 *   tensorflow  native libtensorflow through `@tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN 8) or
 *               `@tensorflow/tfjs-node` (CPU). Both download libtensorflow when installed, so they
 *               are optional: the first is an optionalDependency, the second the user adds.
 *   webgpu      `@tensorflow/tfjs-backend-webgpu` on Dawn (`webgpu`, prebuilt inside the npm package):
 *               Vulkan, Metal or Direct3D 12 (webgpu.ts), with the kit's WGSL kernels
 *               (webgpu-kernels.ts). Chosen automatically only on a hardware adapter; a software
 *               one (SwiftShader, for the tests) only when asked for by name.
 *   wasm        `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD). Always installed; the default here.
 *               The kit registers kernels for it (wasm-kernels.ts): matMuls in OpenBLAS and fused
 *               elementwise kernels through its native addon when that is built (native.ts),
 *               else a transpose-then-XNNPACK fix for transposed matMuls.
 *   cpu         tfjs's pure-JS kernels: ~40× slower than wasm, kept as the numeric reference.
 *
 * Chosen by the `backend` argument, else `PLD_BACKEND`, else the first that works of:
 * GPU tensorflow → native CPU tensorflow → webgpu on a hardware adapter → wasm → cpu.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { defaultWasmThreads, initWasm } from './wasm-threads';
import { NativeInfo, loadNativeKernels } from './native';
import { installWasmKernels } from './wasm-kernels';
import { parseWholeNumber } from '../util/parse';
import { BackendName, parseBackendName } from './names';
import { WebGpuAdapter, activateWebGpu, describeAdapter, takeWebGpuError } from './webgpu';

export { BACKENDS } from './names';
export type { BackendName } from './names';

export interface BackendInfo {
  backend: BackendName;
  /** npm package that provides it. */
  package: string;
  gpu: boolean;
  tfjsVersion: string;
  /** Threads the backend computes with (wasm: the native kernels' pool when built, else its pthread pool; cpu: 1). */
  threads: number;
  simd: boolean;
  /** wasm: the OpenBLAS behind its matMul kernels, or null when they run in wasm (see `skipped`). */
  native: NativeInfo | null;
  /** Why an automatic choice skipped the faster backends (empty when asked for explicitly). */
  skipped: string[];
  /** webgpu: the adapter (vendor, architecture, Dawn backend, software or hardware); else null. */
  adapter: WebGpuAdapter | null;
}

export interface BackendOptions {
  backend?: BackendName;
  /** Compute threads (wasm: the native kernels' pool, or the wasm pool's without them); default: the cores available (PLD_THREADS overrides). */
  threads?: number;
  /**
   * wasm: compute matMuls in OpenBLAS through the native addon (default: when it is built;
   * PLD_NATIVE=0 turns it off, e.g. to measure the wasm kernels alone).
   */
  native?: boolean;
}

let current: BackendInfo | undefined;

/** What `initBackend` chose, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

function parseNative(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === '0') return v === '1';
  throw new Error(`PLD_NATIVE must be 1 (use the native kernels when built) or 0 (wasm kernels only), got '${v}'`);
}

function parseThreads(v: string | undefined): number | undefined {
  return v === undefined || v === '' ? undefined : parseWholeNumber(v, 'PLD_THREADS');
}

/** Loads a native tfjs-node package; returns its name or why it could not. */
function loadNative(pkg: string): { ok: true } | { ok: false; why: string } {
  try {
    require(pkg);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return {
      ok: false,
      why: /Cannot find module/.test(msg) ? `${pkg} is not installed` : `${pkg} failed to load: ${msg}`,
    };
  }
  // danfojs-node's install maps its `@tensorflow/tfjs-node` to pure-JS tfjs, so a successful
  // require proves nothing: only a registered 'tensorflow' backend does.
  if (tf.findBackendFactory('tensorflow') === null)
    return { ok: false, why: `${pkg} resolved to a package without the native backend` };
  return { ok: true };
}

function gpuVisible(): boolean {
  // libtensorflow offers no cheap device query through tfjs-node; the NVIDIA device node is
  // what CUDA needs, so its presence is the honest proxy.
  const fs = require('fs') as typeof import('fs');
  return fs.existsSync('/dev/nvidia0') || fs.existsSync('/dev/nvidiactl');
}

const INSTALL_HINT: Record<BackendName, string> = {
  tensorflow:
    'its install downloads libtensorflow 2.9.1, which Google no longer serves (tensorflow/tfjs#8742), so a plain npm install fails; with a libtensorflow 2.9.1 archive of your own see docs/gpu.md (CUDA 11.2 + cuDNN 8.1 for the GPU build); for a GPU without it use --backend webgpu',
  webgpu: 'reinstall dependencies with `npm ci`; see docs/gpu.md',
  wasm: 'reinstall dependencies with `npm ci`',
  cpu: 'reinstall dependencies with `npm ci`',
};

async function activate(
  name: BackendName,
  threads: number | undefined,
  native: boolean | undefined,
  skipped: string[],
  explicit: boolean,
): Promise<BackendInfo> {
  const base = { tfjsVersion: tf.version.tfjs, native: null, skipped, adapter: null };
  if (name === 'tensorflow') {
    let pkg = '';
    const tried: string[] = [];
    for (const candidate of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      const r = loadNative(candidate);
      if (r.ok) {
        pkg = candidate;
        break;
      }
      tried.push(r.why);
    }
    if (!pkg)
      throw new Error(`backend 'tensorflow' is not available (${tried.join('; ')}); ${INSTALL_HINT.tensorflow}`);
    await tf.setBackend('tensorflow');
    await tf.ready();
    const gpu = pkg.endsWith('-gpu') && gpuVisible();
    return { ...base, backend: 'tensorflow', package: pkg, gpu, threads: os.availableParallelism(), simd: false };
  }
  if (name === 'webgpu') {
    const adapter = await activateWebGpu({ allowSoftware: explicit });
    return {
      ...base,
      backend: 'webgpu',
      package: '@tensorflow/tfjs-backend-webgpu',
      gpu: !adapter.software,
      threads: 1,
      simd: false,
      adapter,
    };
  }
  if (name === 'wasm') {
    const nat =
      native === false ? { ok: false as const, why: 'native kernels turned off (PLD_NATIVE=0)' } : loadNativeKernels();
    if (!nat.ok && native === true) throw new Error(`native kernels asked for but unavailable: ${nat.why}`);
    if (nat.ok) {
      // The threads go to the addon's pool, which runs every product and fused kernel; the wasm
      // build runs on one thread. A wasm pool beside it only spins on the same cores (measured on
      // 2 cores, wasm + native threads: 2 + 2 took 172 and 176 ms for the bench's two steps, 1 + 2
      // took 170 and 143 ms).
      const w = await initWasm({ threads: 1 });
      nat.kernels.setThreads(threads ?? defaultWasmThreads());
      installWasmKernels('native', nat.kernels);
      const info = nat.kernels.info();
      return {
        ...base,
        backend: 'wasm',
        package: '@tensorflow/tfjs-backend-wasm',
        gpu: false,
        threads: info.threads,
        simd: w.simd,
        native: info,
      };
    }
    const w = await initWasm({ threads });
    installWasmKernels('xnnpack', null);
    if (native === undefined) skipped.push(nat.why);
    return {
      ...base,
      backend: 'wasm',
      package: '@tensorflow/tfjs-backend-wasm',
      gpu: false,
      threads: w.threads,
      simd: w.simd,
      native: null,
    };
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { ...base, backend: 'cpu', package: '@tensorflow/tfjs-backend-cpu', gpu: false, threads: 1, simd: false };
}

/**
 * Picks and initialises the backend. Idempotent for the same choice; asking for a different
 * backend, or wasm with another thread count, later switches: tensors made before are lost on a
 * wasm rebuild, so do it before building models.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const env = process.env.PLD_BACKEND;
  const requested = opts.backend ?? (env ? parseBackendName(env, 'PLD_BACKEND') : undefined);
  if (opts.backend !== undefined) parseBackendName(opts.backend, 'the backend option');
  const threads = opts.threads ?? parseThreads(process.env.PLD_THREADS);
  const native = opts.native ?? parseNative(process.env.PLD_NATIVE);
  // On wasm the native kernels are the default whenever they are built, so a call that does not
  // ask for either returns to them after one that turned them off.
  const wantNative = native ?? loadNativeKernels().ok;
  if (
    current &&
    (requested === undefined || requested === current.backend) &&
    (threads === undefined || threads === current.threads) &&
    (current.backend !== 'wasm' || wantNative === (current.native !== null))
  ) {
    return current;
  }
  if (requested) {
    current = await activate(requested, threads, native, [], true);
    return current;
  }
  const skipped: string[] = [];
  for (const name of ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const) {
    try {
      const info = await activate(name, threads, native, skipped, false);
      if (name === 'tensorflow' && !info.gpu && info.package.endsWith('-gpu')) {
        // tfjs-node-gpu without a visible GPU still runs (on CPU); keep it, it beats wasm.
        skipped.push('no GPU visible: @tensorflow/tfjs-node-gpu runs on the CPU');
      }
      current = info;
      return current;
    } catch (e) {
      // The reason without the how-to-install hint after it.
      skipped.push(e instanceof Error ? e.message.split('\n')[0].replace(/\); .*$/, ')') : String(e));
    }
  }
  throw new Error(
    `no tfjs backend could be initialised (${skipped.join('; ')}); reinstall dependencies with \`npm ci\``,
  );
}

/** Largest heap a wasm32 module can have; tfjs-backend-wasm grows its memory up to it. */
const WASM_HEAP_MAX = 4 * 2 ** 30;

/**
 * webgpu: the error the GPU reported since the last call (an allocation it refused, a lost device),
 * as one line saying what to do; undefined when none. WebGPU reports these as events, and tfjs goes
 * on computing with the invalid buffers, so a training step asks after its read-back.
 */
export function backendFault(): Error | undefined {
  const gpu = current?.backend === 'webgpu' ? takeWebGpuError() : undefined;
  if (!gpu) return undefined;
  return new Error(
    `the GPU reported an error (${gpu}); ${/memory|size|alloc/i.test(gpu) ? 'lower the batch size or the sequence length; ' : ''}` +
      `the step's results are not valid and training stopped. Checkpoints already written are intact`,
  );
}

/**
 * Turns the wasm backend running out of memory into an error that says so and what to do. The
 * package does not report it: an allocation past the 4 GB wasm32 limit fails inside a kernel and
 * surfaces as a trap ("memory access out of bounds") or an Emscripten abort. On webgpu, an error
 * the GPU reported (backendFault) replaces the one thrown. Other errors are returned unchanged.
 */
export function explainBackendError(e: unknown): unknown {
  if (current?.backend === 'webgpu') return backendFault() ?? e;
  if (current?.backend !== 'wasm' || !(e instanceof Error)) return e;
  // library boundary: the Emscripten module. Its live memory, not HEAPU8, whose buffer may be the
  // one detached when the heap last grew (byteLength 0) if the module aborted before refreshing it.
  const wasm = (
    tf.backend() as unknown as { wasm?: { asm?: { memory?: { buffer: ArrayBuffer } }; HEAPU8?: Uint8Array } }
  ).wasm;
  const heap = wasm?.asm?.memory?.buffer.byteLength ?? wasm?.HEAPU8?.buffer.byteLength ?? 0;
  const trap = /memory access out of bounds|Aborted\(|Cannot enlarge memory|out of memory/i.test(e.message);
  if (!trap || heap < 0.75 * WASM_HEAP_MAX) return e;
  return new Error(
    `the wasm backend ran out of memory (its heap is at ${(heap / 2 ** 30).toFixed(1)} of at most 4 GiB; ${e.message.split('\n')[0].replace(/\. Build with -sASSERTIONS.*$/, '')}); ` +
      'lower the batch size or the sequence length, or train on a GPU with --backend webgpu, which has no 4 GiB limit (docs/gpu.md). Checkpoints already written are intact',
  );
}

/** One line for logs: `wasm (no GPU, SIMD, 2 threads, matMul in OpenBLAS 0.3.21 SkylakeX, tfjs 4.22.0)`. */
export function describeBackend(b: BackendInfo): string {
  if (b.adapter)
    return `${b.backend} (${b.gpu ? 'GPU' : 'software, no GPU'}: ${describeAdapter(b.adapter)}, tfjs ${b.tfjsVersion})`;
  const bits = [b.gpu ? 'GPU' : 'no GPU'];
  if (b.simd) bits.push('SIMD');
  bits.push(`${b.threads} thread${b.threads === 1 ? '' : 's'}`);
  if (b.native) bits.push(`matMul in ${b.native.blas.split(' ').slice(0, 2).join(' ')} ${b.native.core}`);
  bits.push(`tfjs ${b.tfjsVersion}`);
  return `${b.backend} (${bits.join(', ')})`;
}
