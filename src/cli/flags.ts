/**
 * The one command-line parser of the kit (`pld` and `npm run figures`): `--name value`,
 * `--name=value` and bare `--switch`; positional arguments are rejected. The readers below turn a
 * flag's text into a typed value or one line saying what was wrong.
 */
import { BackendName, parseBackendName } from '../backend/names';
import { parseNumber, parseWholeNumber } from '../util/parse';

export type Flags = Map<string, string | true>;

/** Parses `args` against the known flags; each flag takes a value or is a switch. */
export function parseFlags(args: string[], known: Record<string, 'value' | 'switch'>): Flags {
  const flags: Flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'; options start with --`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const kind = known[name];
    if (!kind)
      throw new Error(
        `unknown option --${name}; known: ${Object.keys(known)
          .map((k) => '--' + k)
          .join(' ')}`,
      );
    if (kind === 'switch') {
      if (eq > 0) throw new Error(`--${name} takes no value`);
      flags.set(name, true);
    } else {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || (eq < 0 && v.startsWith('--'))) throw new Error(`--${name} needs a value`);
      flags.set(name, v);
    }
  }
  return flags;
}

/** The flag's text, or undefined when it was not given. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** A finite number. */
export function numberFlag(flags: Flags, name: string): number | undefined {
  const v = stringFlag(flags, name);
  return v === undefined ? undefined : parseNumber(v, `--${name}`);
}

/** A whole number >= 1 (steps, epochs, sizes, `--threads`). */
export function wholeNumberFlag(flags: Flags, name: string): number | undefined {
  const v = stringFlag(flags, name);
  return v === undefined ? undefined : parseWholeNumber(v, `--${name}`);
}

/** A comma-separated list of texts. */
export function listFlag(flags: Flags, name: string): string[] | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length === 0) throw new Error(`--${name} needs at least one value`);
  return parts;
}

/** A comma-separated list of finite numbers. */
export function numberListFlag(flags: Flags, name: string): number[] | undefined {
  return listFlag(flags, name)?.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be comma-separated numbers, got '${p}'`);
    return n;
  });
}

/** A comma-separated list of whole numbers >= 1 (`pld bench --threads 1,2`). */
export function wholeNumberListFlag(flags: Flags, name: string): number[] | undefined {
  const v = stringFlag(flags, name);
  if (v === undefined) return undefined;
  const list = v.split(',').map((x) => Number(x.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--${name} must be a comma-separated list of whole numbers >= 1, got '${v}'`);
  return list;
}

/** `--backend`, checked by the backend chain's own validator. */
export function backendFlag(flags: Flags): BackendName | undefined {
  const b = stringFlag(flags, 'backend');
  return b === undefined ? undefined : parseBackendName(b, '--backend');
}
