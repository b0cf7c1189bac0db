/**
 * The tfjs wasm backend with its pthread pool working in Node, set up from outside the package.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22.0 ships a threaded SIMD build but never uses it in Node.
 * Four things stand in the way (docs/wasm-threads.md has the file/line evidence):
 *
 *  1. `flags_wasm.js`: the `WASM_HAS_MULTITHREAD_SUPPORT` flag returns false when `IS_NODE`.
 *     → we set the flag to true (`tf.env().set`) before the backend initialises.
 *  2. `backend_wasm.js` `init()`: `locateFile` hands Emscripten a `blob:` URL for the pthread
 *     worker script, and `mainScriptUrlOrBlob` is a Blob holding `factory.toString()` of the
 *     rollup-bundled glue (which refers to bundle-scope variables such as `require$$0`, so it
 *     cannot run on its own). Node's `worker_threads.Worker` cannot load either.
 *     → Emscripten's Node path creates pthreads with the *global* `Worker` (the glue assigns
 *     `global.Worker = require('worker_threads').Worker` and then calls `new Worker(url)`).
 *     While the module initialises we make `globalThis.Worker` an accessor that ignores that
 *     assignment and returns {@link pthreadWorkerClass}: a `worker_threads.Worker` subclass that
 *     runs the package's own worker script (`wasm-out/…-threaded-simd.worker.js`, evaluated
 *     with `eval: true`) instead of the blob URL, and rewrites the `load` message's `urlOrBlob`
 *     to the path of the package's standalone glue (`wasm-out/tfjs-backend-wasm-threaded-simd.js`,
 *     the same Emscripten output as the bundled copy, byte-for-byte the same wasm imports).
 *  3. `backend.cc` `init_with_threads_count`: the pool is capped at
 *     `emscripten_num_logical_cores() / 2`, which the Node glue reads as `os.cpus().length`.
 *     On a 2-core machine that cap is 1 thread whatever `setThreadsCount` says.
 *     → only when that cap is below the request, `os.cpus` reports 2×threads entries while the
 *     module instantiates (the C++ global is computed once, by the wasm constructors), then the
 *     real function is put back.
 *  4. Emscripten `spawnThread()` calls `worker.ref()` on every running pthread in Node; XNNPACK's
 *     pool threads never end, so the process would never exit.
 *     → the subclass's `ref()` does nothing; the pool threads only ever work while the main
 *     thread waits synchronously for them, so nothing is lost by not pinning the event loop.
 *
 * Nothing inside node_modules is modified. If any step fails (worker error, timeout, abort),
 * the threaded attempt is torn down and the single-threaded SIMD build is used instead, with the
 * reason in `fallback`.
 */
import * as path from 'path';
import { Worker as NodeWorker, TransferListItem, WorkerOptions } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';

// `import * as os` would give an interop copy; the glue reads the real module object.
const nodeOs = require('os') as typeof import('os');

export interface WasmInitOptions {
  /** Threads for XNNPACK's pool (the calling thread counts as one). Default: `os.availableParallelism()`. 1 = the single-threaded SIMD build. */
  threads?: number;
  /** Give up on the threaded build after this long and fall back (default 60 000 ms). */
  timeoutMs?: number;
}

export interface WasmInitResult {
  /** Threads the backend computes with, as the package reports them (`getThreadsCount()`). */
  threads: number;
  simd: boolean;
  /** True when the threaded SIMD build is running with more than one thread. */
  threaded: boolean;
  /** Set when more than one thread was asked for but the threaded build could not be used. */
  fallback?: string;
}

/** Threads used when none are asked for: the cores this process may use. */
export function defaultWasmThreads(): number {
  return typeof nodeOs.availableParallelism === 'function' ? nodeOs.availableParallelism() : nodeOs.cpus().length;
}

const WASM_OUT = 'wasm-out';
const WORKER_FILE = 'tfjs-backend-wasm-threaded-simd.worker.js';
const GLUE_FILE = 'tfjs-backend-wasm-threaded-simd.js';
/** Emscripten's `PTHREAD_POOL_SIZE` and backend.cc's `max_num_threads` in this build. */
export const MAX_WASM_THREADS = 8;

interface Attempt {
  workers: Set<NodeWorker>;
  /**
   * open: still initialising; failed: given up (its workers are being terminated). In both, a
   * worker error fails the attempt (a no-op once failed) instead of reaching the glue's handler,
   * which would throw it as an uncaught exception. ok: the package's behaviour applies.
   */
  state: 'open' | 'ok' | 'failed';
  fail: (e: Error) => void;
}

let attempt: Attempt | undefined;

type GlueErrorHandler = (e: unknown) => void;

/**
 * The `Worker` Emscripten's Node path constructs. Only the tfjs pthread worker (a `blob:` URL or
 * that worker file's name) is redirected; anything else goes to `worker_threads.Worker` as is.
 */
function pthreadWorkerClass(workerSource: string, gluePath: string): typeof NodeWorker {
  const isTfjsWorker = (url: unknown): boolean =>
    (typeof url === 'string' && (url.startsWith('blob:') || url.endsWith(WORKER_FILE))) ||
    (url instanceof URL && (url.protocol === 'blob:' || url.pathname.endsWith(WORKER_FILE)));

  class TfjsPthreadWorker extends NodeWorker {
    private tfjs = false;
    private glueOnError: GlueErrorHandler | undefined;
    private owner: Attempt | undefined;

    constructor(url: string | URL, options?: WorkerOptions) {
      const redirect = isTfjsWorker(url);
      super(redirect ? workerSource : url, redirect ? { eval: true, name: 'tfjs-wasm-pthread' } : options);
      this.tfjs = redirect;
      if (!redirect) return;
      this.owner = attempt;
      this.owner?.workers.add(this);
      this.once('exit', (code: number) => {
        if (this.owner?.state === 'open')
          this.owner.fail(new Error(`a wasm pthread worker exited with code ${code} during initialisation`));
      });
    }

    /** Emscripten refs every running pthread in Node; XNNPACK's never end, so never pin the loop. */
    override ref(): void {
      if (!this.tfjs) super.ref();
    }

    override postMessage(value: unknown, transferList?: readonly TransferListItem[]): void {
      let msg = value;
      if (this.tfjs && isLoadMessage(msg) && typeof msg.urlOrBlob !== 'string') msg = { ...msg, urlOrBlob: gluePath };
      super.postMessage(msg, transferList);
    }

    // The glue installs `worker.on('error', e => worker.onerror(e))` and an `onerror` that logs
    // and throws (an uncaught exception, i.e. a crash). During a start that is still open or has
    // failed, a worker error becomes a fallback instead; after a good start the package's
    // behaviour is kept.
    get onerror(): GlueErrorHandler {
      return (e: unknown) => {
        if (this.tfjs && this.owner && this.owner.state !== 'ok') {
          this.owner.fail(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (this.glueOnError) this.glueOnError(e);
        else throw e;
      };
    }

    set onerror(fn: GlueErrorHandler) {
      this.glueOnError = fn;
    }
  }
  return TfjsPthreadWorker;
}

function isLoadMessage(m: unknown): m is { cmd: 'load'; urlOrBlob: unknown } {
  return typeof m === 'object' && m !== null && (m as { cmd?: unknown }).cmd === 'load';
}

/** Files of the installed package the threaded build needs, or why they are unusable. */
function threadedAssets(): { workerSource: string; gluePath: string } | { error: string } {
  try {
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    const gluePath = path.join(dir, WASM_OUT, GLUE_FILE);
    const mod = require(path.join(dir, WASM_OUT, WORKER_FILE)) as { wasmWorkerContents?: unknown };
    if (typeof mod.wasmWorkerContents !== 'string')
      return { error: `${WORKER_FILE} does not export wasmWorkerContents` };
    require('fs').accessSync(gluePath);
    // That file holds the source in a template literal, which turns the `\n` escapes of the
    // worker's own string literals into real newlines; put them back, as the package's
    // locateFile does before making its Blob.
    return { workerSource: mod.wasmWorkerContents.replace(/\n/g, '\\n'), gluePath };
  } catch (e) {
    return { error: `threaded wasm files not found: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
}

function sharedMemoryWorks(): boolean {
  try {
    // tsconfig's lib has no DOM/WebAssembly types; Node has the global.
    const wasm = (globalThis as unknown as { WebAssembly?: { Memory: new (d: object) => { buffer: unknown } } })
      .WebAssembly;
    if (!wasm || typeof SharedArrayBuffer === 'undefined') return false;
    return new wasm.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

interface GlobalPatch {
  restore(): void;
}

/** `globalThis.Worker` → our class; the glue's own assignment is ignored while this is active. */
function patchGlobalWorker(cls: typeof NodeWorker): GlobalPatch {
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => cls,
    set: () => undefined,
  });
  return {
    // Leave a plain global behind, as the glue itself does (it sets `global.Worker` for good), so
    // that a pthread the pool spawns later still gets our class.
    restore: () =>
      Object.defineProperty(globalThis, 'Worker', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: cls,
      }),
  };
}

/** Makes `os.cpus().length` at least `2 * threads` so backend.cc's `cores / 2` cap allows them. */
function patchCpuCount(threads: number): GlobalPatch {
  const real = nodeOs.cpus;
  if (Math.floor(real().length / 2) >= threads) return { restore: () => undefined };
  const desc = Object.getOwnPropertyDescriptor(nodeOs, 'cpus');
  Object.defineProperty(nodeOs, 'cpus', {
    configurable: true,
    enumerable: desc?.enumerable ?? true,
    writable: true,
    value: function cpus() {
      const cpus = real.call(nodeOs);
      const n = Math.max(cpus.length, 2 * threads);
      return Array.from({ length: n }, (_, i) => cpus[i % Math.max(cpus.length, 1)]);
    },
  });
  return { restore: () => (desc ? Object.defineProperty(nodeOs, 'cpus', desc) : undefined) };
}

/** Throws away any wasm backend instance (or pending init) and registers the factory afresh. */
function resetWasmBackend(factory: {
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>;
  priority: number;
}): void {
  const engine = tf.engine();
  if ('wasm' in engine.registryFactory) tf.removeBackend('wasm');
  tf.registerBackend('wasm', factory.factory, factory.priority);
}

async function withTimeout<T>(p: Promise<T>, ms: number, failure: Promise<never>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`threaded wasm did not initialise within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout, failure]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Captures tfjs-core's "Initialization of backend wasm failed" warning and the stack it logs next
 * (the reason ends up in `fallback` instead); any other console.warn passes through.
 */
async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warn = console.warn;
  const warnings: string[] = [];
  let captureNext = false;
  console.warn = (...args: unknown[]) => {
    const text = args.map(String).join(' ');
    if (captureNext || /^Initialization of backend wasm failed/.test(text)) {
      captureNext = !captureNext;
      warnings.push(text);
    } else {
      warn.apply(console, args);
    }
  };
  try {
    return { value: await f(), warnings };
  } finally {
    console.warn = warn;
  }
}

async function simdSupported(): Promise<boolean> {
  return Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
}

async function initSingle(): Promise<{ threads: number; simd: boolean }> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  await tf.ready();
  return { threads: getThreadsCount(), simd: await simdSupported() };
}

/** One try at the threaded SIMD build; resolves with the thread count or rejects with why not. */
async function initThreaded(threads: number, timeoutMs: number): Promise<number> {
  const assets = threadedAssets();
  if ('error' in assets) throw new Error(assets.error);
  if (!sharedMemoryWorks()) throw new Error('shared WebAssembly.Memory is not available in this Node');
  if (!(await simdSupported())) throw new Error('the threaded build needs wasm SIMD, which this Node lacks');

  let fail!: (e: Error) => void;
  const failure = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failure.catch(() => undefined);
  const a: Attempt = { workers: new Set(), state: 'open', fail: (e) => fail(e) };
  attempt = a;
  const cls = pthreadWorkerClass(assets.workerSource, assets.gluePath);
  const workerPatch = patchGlobalWorker(cls);
  const cpuPatch = patchCpuCount(threads);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  try {
    const { value: ok, warnings } = await quietly(() => withTimeout(tf.setBackend('wasm'), timeoutMs, failure));
    if (!ok)
      throw new Error(`tf.setBackend('wasm') failed${warnings.length > 1 ? `: ${warnings[1].split('\n')[0]}` : ''}`);
    await tf.ready();
    a.state = 'ok';
    return getThreadsCount();
  } catch (e) {
    a.state = 'failed';
    for (const w of a.workers) void w.terminate();
    throw e;
  } finally {
    if (attempt === a) attempt = undefined;
    cpuPatch.restore();
    workerPatch.restore();
  }
}

interface State {
  requested: number;
  result: WasmInitResult;
}

let state: State | undefined;
let queue: Promise<unknown> = Promise.resolve();
const registration = tf.engine().registryFactory['wasm'];

async function doInit(opts: WasmInitOptions): Promise<WasmInitResult> {
  const requested = opts.threads ?? defaultWasmThreads();
  if (!Number.isInteger(requested) || requested < 1)
    throw new Error(`wasm threads must be a whole number >= 1, got ${requested}`);
  if (registration === undefined) throw new Error('@tensorflow/tfjs-backend-wasm did not register a wasm backend');
  const engine = tf.engine();
  const live = 'wasm' in engine.registry;
  if (live && state && state.requested === requested) {
    await tf.setBackend('wasm');
    await tf.ready();
    return { ...state.result };
  }
  if (live || !('wasm' in engine.registryFactory)) resetWasmBackend(registration);

  let result: WasmInitResult;
  if (requested === 1) {
    const s = await initSingle();
    result = { threads: s.threads, simd: s.simd, threaded: false };
  } else {
    try {
      const n = await initThreaded(requested, opts.timeoutMs ?? 60_000);
      result = { threads: n, simd: true, threaded: n > 1 };
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      resetWasmBackend(registration);
      const s = await initSingle();
      result = { threads: s.threads, simd: s.simd, threaded: false, fallback: why };
      // Callers that only keep `threads` would otherwise hide a 2×-or-so slowdown.
      console.warn(`wasm: ${requested} threads unavailable (${why}); running single-threaded`);
    }
  }
  state = { requested, result };
  return { ...result };
}

/**
 * Initialises the wasm backend (SIMD on) with `threads` threads and makes it the active backend.
 * Calling it again with another thread count rebuilds the backend (tensors on the old wasm
 * backend are lost: do it before building models). Never hangs: a threaded start that fails or
 * stalls falls back to the single-threaded build and says why in `fallback`. The pthread workers
 * never keep the process alive.
 */
export function initWasm(opts: WasmInitOptions = {}): Promise<WasmInitResult> {
  const run = queue.then(() => doInit(opts));
  queue = run.catch(() => undefined);
  return run;
}
