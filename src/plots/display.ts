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
