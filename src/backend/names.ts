/** The backends the kit can run on, and the one check of a name (free of tfjs, so flag parsing stays light). */

export const BACKENDS = ['tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** `v` as a backend name, or one line naming where it came from (`from`) and the choices. */
export function parseBackendName(v: string, from: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(v)) return v as BackendName;
  throw new Error(`unknown backend '${v}' in ${from}; use one of ${BACKENDS.join(', ')}`);
}
