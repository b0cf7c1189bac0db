/** The output folder of an export: new, empty, or an earlier export of the same kind (which is replaced whole). */
import * as fs from 'fs';

export function checkExportTarget(out: string, marker: string, what: string): void {
  if (!fs.existsSync(out)) return;
  if (!fs.statSync(out).isDirectory())
    throw new Error(`${out} exists and is not a folder; choose another output folder for the ${what}`);
  const entries = fs.readdirSync(out);
  if (entries.length > 0 && !entries.includes(marker))
    throw new Error(`${out} already holds other files (no ${marker}); choose an empty or new folder for the ${what}`);
}
