/**
 * Run logs: one JSON object per line (JSONL), flushed as training goes, readable with
 * `readJsonl` or danfojs (`dfd.DataFrame(readJsonl(path))`), plus a CSV copy written at the end.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../util/atomic';

export type LogRecord = Record<string, number | string | boolean | null | (number | null)[]>;

export function readJsonl<T = LogRecord>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch {
        throw new Error(`${file} line ${i + 1} is not valid JSON; the log is damaged`);
      }
    });
}

/** Appends records to a JSONL file. */
export class JsonlWriter {
  private fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  write(r: LogRecord): void {
    fs.writeSync(this.fd, JSON.stringify(r) + '\n');
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Keeps only the records before `step` (a resumed run rewrites what came after its checkpoint). */
export function truncateLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = readJsonl(file).filter((r) => typeof r.step === 'number' && r.step < step);
  writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}

/** A record with array fields expanded to key_0, key_1, … (the columns of the CSV and of loadRun's DataFrames). */
export function flattenRecord(r: LogRecord): Record<string, string | number | boolean | null> {
  const o: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(r)) {
    if (Array.isArray(v)) v.forEach((x, i) => (o[`${k}_${i}`] = x));
    else o[k] = v;
  }
  return o;
}

/** CSV with one column per key (arrays expanded to key_0, key_1, …). */
export function toCsv(records: LogRecord[]): string {
  const flat = records.map(flattenRecord);
  const cols: string[] = [];
  for (const r of flat) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cell = (x: unknown): string =>
    x === null || x === undefined
      ? ''
      : typeof x === 'string' && /[",\n]/.test(x)
        ? `"${x.replace(/"/g, '""')}"`
        : String(x);
  return [cols.join(','), ...flat.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
