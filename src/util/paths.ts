/** Where the kit lives, so defaults like data/vocab.txt and runs/ work from any working directory (notebooks run in notebooks/). */
import * as fs from 'fs';
import * as path from 'path';

/** The repository root (dist/src/util/paths.js → three levels up). */
export function kitRoot(): string {
  return path.resolve(__dirname, '..', '..', '..');
}

/** A relative path that exists from the working directory is used as is; otherwise it is taken from the kit root. */
export function resolveKitPath(p: string): string {
  if (path.isAbsolute(p) || fs.existsSync(p)) return p;
  const fromRoot = path.join(kitRoot(), p);
  return fs.existsSync(fromRoot) ? fromRoot : p;
}
