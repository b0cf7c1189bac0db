/**
 * The tslab kernel's display channel: one output carrying several mime types, and outputs that
 * update in place (Jupyter's `display_data` with a `display_id`, then `update_display_data`).
 *
 * tslab's public `display.raw(mime, data)` sends one mime type per output, so bundles go through
 * the kernel's own display writer (`lastWriteDisplayData` in tslab/dist/jupyter.js), found in the
 * module cache so the kernel's tslab instance is used whichever copy it is. Outside a kernel
 * (plain node) there is no writer and callers print text instead.
 */
export type MimeBundle = Record<string, unknown>;

interface DisplayData {
  data: MimeBundle;
  metadata: Record<string, unknown>;
  transient: { display_id?: string };
}
type DisplayWriter = (d: DisplayData, update: boolean) => void;

/** The running tslab kernel's display writer, or null outside a kernel. */
export function kernelWriter(): DisplayWriter | null {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!/[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(file) || !mod) continue;
    const w = (mod.exports as { lastWriteDisplayData?: DisplayWriter | null }).lastWriteDisplayData;
    if (typeof w === 'function') return w;
  }
  return null;
}

type Send = (this: object, msg: unknown) => Promise<void>;
const serialised = Symbol.for('pld-kit.serialised-send');
const pendingSend = new WeakMap<object, Promise<void>>();

/**
 * Makes the kernel's output socket take one message at a time. tslab sends every output, status
 * and display message with zeromq's `Publisher.send` and drops the promise it returns, but a
 * zeromq 6 socket allows one send in progress: after 512 sends that completed at once it defers the
 * next one to the event loop, and a send made before the loop turns throws EBUSY ("Socket is busy
 * writing"). Long training cells reach 512 outputs (progress updates), and tfjs-wasm's Emscripten
 * module rethrows every uncaught exception, so the kernel process died. Here each send waits for
 * the one before it; order is kept. Idempotent; a no-op outside a tslab kernel.
 */
export function serialiseKernelSends(): void {
  for (const [file, mod] of Object.entries(require.cache)) {
    if (!/[\\/]zeromq[\\/]lib[\\/]index\.js$/.test(file) || !mod) continue;
    // The boundary with zeromq's untyped prototype chain.
    const proto = (mod.exports as { Publisher?: { prototype: Record<string | symbol, unknown> } }).Publisher?.prototype;
    const original = proto?.send;
    if (!proto || typeof original !== 'function' || proto[serialised]) continue;
    const send = original as Send;
    // Defined, not assigned: the native `send` it shadows is read-only.
    Object.defineProperty(proto, 'send', {
      configurable: true,
      writable: true,
      value: function (this: object, msg: unknown): Promise<void> {
        const next = (pendingSend.get(this) ?? Promise.resolve()).then(() => send.call(this, msg));
        // tslab never looks at the result, so a failed send (a socket closed at shutdown) is dropped
        // here rather than left as an unhandled rejection, which the wasm backend turns into an exit.
        const settled = next.catch(() => undefined);
        pendingSend.set(this, settled);
        return settled;
      },
    });
    proto[serialised] = true;
  }
}

/** True inside a tslab kernel (where outputs are Jupyter messages, not terminal text). */
export function inKernel(): boolean {
  return kernelWriter() !== null;
}

/** Sends one output with several mime types (prints text/plain outside a kernel). */
export function displayBundle(data: MimeBundle, metadata: Record<string, unknown> = {}): void {
  const w = kernelWriter();
  if (w) return w({ data, metadata, transient: {} }, false);
  const text = data['text/plain'];
  if (typeof text === 'string') console.log(text);
}

let displays = 0;

/**
 * An output that can be replaced in place: `show` sends it (a new `display_data` with a display
 * id), `update` replaces what it shows (`update_display_data`); nbclient and the notebook front
 * ends keep only the latest content. Null outside a kernel.
 */
export function liveDisplay(): { show(data: MimeBundle): void; update(data: MimeBundle): void } | null {
  const w = kernelWriter();
  if (!w) return null;
  const id = `pld-${process.pid}-${++displays}`;
  return {
    show: (data) => w({ data, metadata: {}, transient: { display_id: id } }, false),
    update: (data) => w({ data, metadata: {}, transient: { display_id: id } }, true),
  };
}

// From the moment the kit is imported into a kernel, not only from its first display: a cell's
// plain console output goes through the same socket.
serialiseKernelSends();
