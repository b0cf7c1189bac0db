/**
 * tfjs's WebGPU backend in Node, on Dawn (the `webgpu` package: Dawn's Node binding, a prebuilt
 * `dawn.node` inside the npm package, nothing downloaded at install). Dawn talks to the GPU
 * through Vulkan on Linux, Metal on macOS and Direct3D 12 on Windows.
 *
 * tfjs-backend-webgpu is written for browsers: it looks for `navigator.gpu` and the WebGPU
 * constants (GPUBufferUsage, GPUMapMode, …) on the global object. This module puts Dawn's there
 * first, then picks the adapter itself, so that it can say which one it is (vendor, architecture,
 * Dawn backend, software or hardware) and refuse a software one unless asked for explicitly:
 * SwiftShader runs the same shaders on the CPU, right but far slower than wasm, which is what the
 * tests use it for and nothing else.
 */
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs';
import { installWebGpuKernels } from './webgpu-kernels';

/** The adapter tfjs runs on, as every manifest records it. */
export interface WebGpuAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn's backend: vulkan, metal or d3d12. */
  dawnBackend: string;
  /** A CPU implementation of the GPU API (SwiftShader, lavapipe, WARP). */
  software: boolean;
  /** Version of the `webgpu` package (Dawn's Node binding). */
  dawnNode: string;
}

// ---- the library boundary: the few WebGPU objects this module touches --------------------------

interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapter {
  info: GpuAdapterInfo;
  features: Set<string>;
  limits: Record<string, number>;
  requestDevice(d: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<GpuDevice>;
}
export interface GpuDevice {
  destroy(): void;
  lost: Promise<{ reason?: string; message?: string }>;
  addEventListener?(type: 'uncapturederror', f: (ev: { error?: { message?: string } }) => void): void;
}
interface Gpu {
  requestAdapter(o: { powerPreference: 'high-performance' | 'low-power' }): Promise<GpuAdapter | null>;
}
interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** Dawn's backend for this platform. */
export function dawnBackendFor(platform: NodeJS.Platform): string {
  return platform === 'darwin' ? 'metal' : platform === 'win32' ? 'd3d12' : 'vulkan';
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

/** True for an adapter that computes on the CPU. */
export function isSoftwareAdapter(
  info: Pick<GpuAdapterInfo, 'vendor' | 'architecture' | 'device' | 'description' | 'isFallbackAdapter'>,
): boolean {
  return (
    info.isFallbackAdapter === true ||
    SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '))
  );
}

/** `google swiftshader (SwiftShader driver 5.0.0, Dawn vulkan, software)`. */
export function describeAdapter(a: WebGpuAdapter): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ') || a.device || 'unknown adapter';
  const bits = [a.description, `Dawn ${a.dawnBackend}`, a.software ? 'software' : 'hardware'].filter(Boolean);
  return `${name} (${bits.join(', ')})`;
}

// TypeScript compiles `import()` to `require()` for CommonJS output, and `webgpu` is an ES module,
// which Node 20's require cannot load: keep a real dynamic import.
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<unknown>;

let dawn: DawnModule | undefined;
let gpu: Gpu | undefined;

async function loadDawn(): Promise<{ ok: true; gpu: Gpu } | { ok: false; why: string }> {
  if (gpu) return { ok: true, gpu };
  let entry: string;
  try {
    entry = require.resolve('webgpu');
  } catch {
    return { ok: false, why: 'the webgpu package is not installed (npm ci)' };
  }
  try {
    dawn = (await importModule(pathToFileURL(entry).href)) as DawnModule;
  } catch (e) {
    return {
      ok: false,
      why: `Dawn (the webgpu package) failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    };
  }
  // The WebGPU constants tfjs-backend-webgpu reads as globals (GPUBufferUsage, GPUMapMode, …);
  // existing globals are left as they are.
  const g = globalThis as Record<string, unknown>;
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in g)) g[k] = v;
  gpu = dawn.create([`backend=${dawnBackendFor(process.platform)}`]);
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  if (!('gpu' in nav)) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  if (g.navigator === undefined) g.navigator = nav;
  return { ok: true, gpu };
}

function packageVersion(name: string): string {
  try {
    const file = require.resolve(`${name}/package.json`);
    return (require(file) as { version: string }).version;
  } catch {
    // `webgpu` has no "exports" map, but a future one could hide package.json: read it beside the entry.
    const fs = require('fs') as typeof import('fs');
    const file = path.join(path.dirname(require.resolve(name)), 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
}

/**
 * Whether this machine shows a GPU to look for, without loading Dawn (which prints Vulkan loader
 * warnings on a machine without any): on Linux a DRM render node or NVIDIA's device node.
 */
export function gpuDevicePresent(): boolean {
  if (process.platform !== 'linux') return true;
  const fs = require('fs') as typeof import('fs');
  if (fs.existsSync('/dev/nvidiactl') || fs.existsSync('/dev/nvidia0')) return true;
  try {
    return fs.readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** The adapter Dawn would give tfjs, without starting tfjs on it; or why there is none. */
export async function probeWebGpu(): Promise<
  { ok: true; adapter: WebGpuAdapter; raw: GpuAdapter } | { ok: false; why: string }
> {
  const d = await loadDawn();
  if (!d.ok) return d;
  const backend = dawnBackendFor(process.platform);
  let raw: GpuAdapter | null;
  try {
    raw = await d.gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, why: `Dawn could not list GPUs: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  if (!raw) {
    const hint =
      backend === 'vulkan'
        ? ' (Dawn found no Vulkan driver: install libvulkan1 and the GPU vendor’s Vulkan ICD; in a container NVIDIA needs NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics)'
        : '';
    return { ok: false, why: `no WebGPU adapter on Dawn ${backend}${hint}` };
  }
  const i = raw.info;
  const adapter: WebGpuAdapter = {
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    dawnBackend: backend,
    software: isSoftwareAdapter(i),
    dawnNode: packageVersion('webgpu'),
  };
  return { ok: true, adapter, raw };
}

let active: { adapter: WebGpuAdapter; device: GpuDevice } | undefined;
/** The first error the GPU reported outside any error scope (out of memory, a lost device), if any. */
let gpuError: string | undefined;

/** Returns and clears the first error the GPU device reported since the last call. */
export function takeWebGpuError(): string | undefined {
  const e = gpuError;
  gpuError = undefined;
  return e;
}

/** The adapter tfjs's webgpu backend runs on, once `activateWebGpu` succeeded. */
export function webGpuAdapter(): WebGpuAdapter | undefined {
  return active?.adapter;
}

/**
 * Makes 'webgpu' the tfjs backend on the best adapter. A software adapter is refused unless
 * `allowSoftware` (PLD_BACKEND=webgpu or an explicit --backend webgpu).
 */
export async function activateWebGpu(o: { allowSoftware: boolean }): Promise<WebGpuAdapter> {
  if (active && tf.getBackend() === 'webgpu') return active.adapter;
  if (active) {
    await tf.setBackend('webgpu');
    return active.adapter;
  }
  if (!o.allowSoftware && !gpuDevicePresent())
    throw new Error("backend 'webgpu' skipped: no GPU device on this machine (/dev/dri/renderD*, /dev/nvidia*)");
  const p = await probeWebGpu();
  if (!p.ok) throw new Error(`backend 'webgpu' is not available (${p.why})`);
  if (p.adapter.software && !o.allowSoftware) {
    throw new Error(
      `backend 'webgpu' found only a software adapter, ${describeAdapter(p.adapter)}, slower than wasm; PLD_BACKEND=webgpu uses it anyway`,
    );
  }
  // The package registers a factory of its own (priority 3, above wasm and cpu) when navigator.gpu
  // exists as it loads; replace it with one on the adapter chosen here, at a priority that never
  // makes tfjs pick it by itself.
  const { WebGPUBackend } = require('@tensorflow/tfjs-backend-webgpu') as {
    WebGPUBackend: new (device: GpuDevice, info: GpuAdapterInfo) => tf.KernelBackend;
  };
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  const raw = p.raw;
  const limits = [
    'maxComputeWorkgroupStorageSize',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupSizeX',
    'maxComputeInvocationsPerWorkgroup',
  ];
  const device = await raw.requestDevice({
    requiredFeatures: raw.features.has('timestamp-query') ? ['timestamp-query'] : [],
    requiredLimits: Object.fromEntries(limits.map((k) => [k, raw.limits[k]])),
  });
  // WebGPU reports failures (an allocation too large, a lost device) as events, not exceptions:
  // tfjs would go on computing with invalid buffers. Keep the first, for explainBackendError.
  device.addEventListener?.('uncapturederror', (ev) => {
    gpuError ??= ev.error?.message?.split('\n')[0] ?? 'unknown GPU error';
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') gpuError ??= `the GPU device was lost${info.message ? `: ${info.message}` : ''}`;
  });
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, raw.info), 0);
  if (!(await tf.setBackend('webgpu')))
    throw new Error(`backend 'webgpu' failed to start on ${describeAdapter(p.adapter)}`);
  await tf.ready();
  installWebGpuKernels();
  active = { adapter: p.adapter, device };
  return p.adapter;
}

/**
 * Releases the GPU device (tfjs's backend first), so that nothing of Dawn's keeps Node's event loop
 * alive. Tensors on the webgpu backend are gone afterwards.
 */
export function releaseWebGpu(): void {
  if (!active) return;
  if (tf.findBackend('webgpu')) tf.removeBackend('webgpu');
  active.device.destroy();
  active = undefined;
}
