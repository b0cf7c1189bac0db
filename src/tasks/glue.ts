/**
 * Loaders for the nine GLUE tasks in the layout the official download script
 * (download_glue_data.py) writes: `<glueDir>/<TaskDir>/train.tsv` and `dev.tsv`
 * (MNLI: `dev_matched.tsv`, `dev_mismatched.tsv`).
 *
 * Columns, label sets and label order follow the HF `transformers` GLUE processors (run_glue),
 * so a model fine-tuned here uses the same label indices as the reference implementation.
 * Files are read like run_glue's `csv.reader(delimiter='\t', quotechar=None)`: one row per line,
 * fields split on tabs, quotes are ordinary characters (MRPC and SST-2 sentences contain `"`).
 * Unlike run_glue, rows with the wrong field count are errors rather than silently misread,
 * except QQP's rows with missing fields, which run_glue skips (IndexError) and so do we, counting them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { constantBaseline } from './metrics';
import { Rng } from '../util/rng';
import { Baseline, Example, TaskData, TaskSpec } from './types';

/** Canonical names, in the order of the GLUE paper's table. */
export const GLUE_TASKS = ['CoLA', 'SST-2', 'MRPC', 'STS-B', 'QQP', 'MNLI', 'QNLI', 'RTE', 'WNLI'] as const;
export type GlueTaskName = (typeof GLUE_TASKS)[number];

/** Column of a row; negative counts from the end (-1 = last), as the processors' `line[-1]`. */
type Column = number;

interface GlueFormat {
  spec: TaskSpec;
  /** Directory name in the official download. */
  dir: string;
  devFiles: string[];
  /** Header names checked at the columns we read; null for CoLA, whose train/dev have no header. */
  header: Record<Column, string> | null;
  /** Field count for header-less files (CoLA); otherwise the header's own length is required. */
  fields?: number;
  textA: Column;
  textB?: Column;
  label: Column;
  /** QQP: rows with fewer fields than the header are skipped and counted (run_glue does the same). */
  skipShortRows?: boolean;
}

const BINARY = ['0', '1'];
const NLI2 = ['entailment', 'not_entailment'];

function classification(name: string, labelNames: string[], pair: boolean, metrics: TaskSpec['metrics']): TaskSpec {
  return { name, kind: 'classification', numLabels: labelNames.length, labelNames, metrics, pair };
}

const FORMATS: Record<GlueTaskName, GlueFormat> = {
  // in_domain_train.tsv-style rows: source, label, original acceptability mark, sentence.
  CoLA: {
    spec: classification('CoLA', BINARY, false, ['mcc']),
    dir: 'CoLA',
    devFiles: ['dev'],
    header: null,
    fields: 4,
    textA: 3,
    label: 1,
  },
  'SST-2': {
    spec: classification('SST-2', BINARY, false, ['accuracy']),
    dir: 'SST-2',
    devFiles: ['dev'],
    header: { 0: 'sentence', 1: 'label' },
    textA: 0,
    label: 1,
  },
  MRPC: {
    spec: classification('MRPC', BINARY, true, ['f1', 'accuracy']),
    dir: 'MRPC',
    devFiles: ['dev'],
    header: { 0: 'Quality', 3: '#1 String', 4: '#2 String' },
    textA: 3,
    textB: 4,
    label: 0,
  },
  'STS-B': {
    spec: {
      name: 'STS-B',
      kind: 'regression',
      numLabels: 1,
      labelRange: [0, 5],
      metrics: ['pearson', 'spearman'],
      pair: true,
    },
    dir: 'STS-B',
    devFiles: ['dev'],
    header: { 7: 'sentence1', 8: 'sentence2', [-1]: 'score' },
    textA: 7,
    textB: 8,
    label: -1,
  },
  QQP: {
    spec: classification('QQP', BINARY, true, ['f1', 'accuracy']),
    dir: 'QQP',
    devFiles: ['dev'],
    header: { 3: 'question1', 4: 'question2', 5: 'is_duplicate' },
    textA: 3,
    textB: 4,
    label: 5,
    skipShortRows: true,
  },
  // train has 12 columns (label1, gold_label), dev 16 (label1..label5, gold_label): gold_label is always last.
  MNLI: {
    spec: classification('MNLI', ['contradiction', 'entailment', 'neutral'], true, ['accuracy']),
    dir: 'MNLI',
    devFiles: ['dev_matched', 'dev_mismatched'],
    header: { 8: 'sentence1', 9: 'sentence2', [-1]: 'gold_label' },
    textA: 8,
    textB: 9,
    label: -1,
  },
  QNLI: {
    spec: classification('QNLI', NLI2, true, ['accuracy']),
    dir: 'QNLI',
    devFiles: ['dev'],
    header: { 1: 'question', 2: 'sentence', [-1]: 'label' },
    textA: 1,
    textB: 2,
    label: -1,
  },
  RTE: {
    spec: classification('RTE', NLI2, true, ['accuracy']),
    dir: 'RTE',
    devFiles: ['dev'],
    header: { 1: 'sentence1', 2: 'sentence2', [-1]: 'label' },
    textA: 1,
    textB: 2,
    label: -1,
  },
  WNLI: {
    spec: classification('WNLI', BINARY, true, ['accuracy']),
    dir: 'WNLI',
    devFiles: ['dev'],
    header: { 1: 'sentence1', 2: 'sentence2', [-1]: 'label' },
    textA: 1,
    textB: 2,
    label: -1,
  },
};

const key = (name: string): string => name.toLowerCase().replace(/[-_\s]/g, '');
const BY_KEY = new Map<string, GlueTaskName>(GLUE_TASKS.map((t) => [key(t), t]));

/** Canonical GLUE name for a case-insensitive name with or without the hyphen ('sst2', 'sts-b', 'mnli'). */
export function resolveGlueTask(name: string): GlueTaskName {
  const t = BY_KEY.get(key(name));
  if (!t)
    throw new Error(
      `unknown GLUE task '${name}'; valid names are ${GLUE_TASKS.join(', ')} (case-insensitive, hyphen optional)`,
    );
  return t;
}

/** The task's spec (labels, metrics) without reading any data. */
export function glueTaskSpec(name: string): TaskSpec {
  return FORMATS[resolveGlueTask(name)].spec;
}

/** The dev-set names a task's `TaskData.dev` will have ('dev', or MNLI's two). */
export function glueDevSets(name: string): string[] {
  return [...FORMATS[resolveGlueTask(name)].devFiles];
}

const at = <T>(xs: T[], c: Column): T => xs[c < 0 ? xs.length + c : c];

function parseLabel(spec: TaskSpec, raw: string, where: string): number {
  if (spec.kind === 'regression') {
    const [lo, hi] = spec.labelRange ?? [-Infinity, Infinity];
    const v = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw) ? Number(raw) : NaN;
    if (!(v >= lo && v <= hi))
      throw new Error(
        `${where}: score '${raw}' is not a number in [${lo}, ${hi}]; this file must be the official GLUE ${spec.name} TSV`,
      );
    return v;
  }
  const names = spec.labelNames ?? [];
  const i = names.indexOf(raw);
  if (i < 0)
    throw new Error(
      `${where}: label '${raw}' is not one of ${names.join(', ')}; this file must be the official GLUE ${spec.name} TSV`,
    );
  return i;
}

export interface ParsedTsv {
  examples: Example[];
  /** Rows skipped because fields were missing (QQP only). */
  skipped: number;
}

/**
 * Parse one GLUE TSV's text. `file` is only used in error messages (give the path the user knows).
 */
export function parseGlueTsv(task: string, text: string, file: string): ParsedTsv {
  const fmt = FORMATS[resolveGlueTask(task)];
  const spec = fmt.spec;
  const fix = `this file must be the official GLUE ${spec.name} TSV`;
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // trailing newline, not a row
  let first = 0;
  let fields = fmt.fields ?? 0;
  if (fmt.header) {
    if (lines.length === 0) throw new Error(`${file}: empty file, expected a header line; ${fix}`);
    const header = lines[0].replace(/\r$/, '').split('\t');
    for (const [c, name] of Object.entries(fmt.header)) {
      const got = at(header, Number(c));
      if (got !== name) {
        throw new Error(
          `${file} line 1: expected header column ${Number(c) < 0 ? 'last' : Number(c) + 1} to be '${name}', got '${got ?? '(missing)'}'; ${fix}`,
        );
      }
    }
    fields = header.length;
    first = 1;
  }
  const examples: Example[] = [];
  let skipped = 0;
  for (let i = first; i < lines.length; i++) {
    const row = lines[i].replace(/\r$/, '').split('\t');
    const where = `${file} line ${i + 1}`;
    if (row.length !== fields) {
      if (fmt.skipShortRows && row.length < fields) {
        skipped++;
        continue;
      }
      throw new Error(`${where}: expected ${fields} tab-separated fields, got ${row.length}; ${fix}`);
    }
    const ex: Example = { textA: at(row, fmt.textA), label: parseLabel(spec, at(row, fmt.label), where) };
    if (fmt.textB !== undefined) ex.textB = at(row, fmt.textB);
    examples.push(ex);
  }
  return { examples, skipped };
}

function readSplit(task: GlueTaskName, dir: string, split: string): ParsedTsv {
  const file = path.join(dir, `${split}.tsv`);
  if (!fs.existsSync(file)) {
    throw new Error(
      `GLUE file ${file} not found; download GLUE with its official script (download_glue_data.py) so that ${task}'s ${split}.tsv is at that path`,
    );
  }
  return parseGlueTsv(task, fs.readFileSync(file, 'utf8'), file);
}

/**
 * At most `max` examples, drawn uniformly with a seeded RNG and kept in file order. Taking the
 * first rows would be biased: CoLA's train file, for one, is grouped by source publication.
 */
export function subsample<T>(xs: T[], max: number | undefined, rng: Rng): T[] {
  if (max === undefined) return xs;
  if (!(Number.isInteger(max) && max > 0)) throw new Error(`maxTrain/maxDev must be a positive integer, got ${max}`);
  if (xs.length <= max) return xs;
  const idx = rng
    .shuffle(Array.from({ length: xs.length }, (_, i) => i))
    .slice(0, max)
    .sort((a, b) => a - b);
  return idx.map((i) => xs[i]);
}

export interface LoadOptions {
  /** Keep at most this many training examples (seeded uniform subsample, file order kept). */
  maxTrain?: number;
  /** Keep at most this many examples per dev set. */
  maxDev?: number;
  /** Seed of the subsampling; default 0. */
  seed?: number;
}

export function loadGlueTask(glueDir: string, name: string, opts: LoadOptions = {}): TaskData {
  const task = resolveGlueTask(name);
  const fmt = FORMATS[task];
  const dir = path.join(glueDir, fmt.dir);
  if (!fs.existsSync(dir)) {
    throw new Error(
      `GLUE task directory ${dir} not found; download GLUE with its official script (download_glue_data.py --data_dir ${glueDir}) so that ${fmt.dir}/train.tsv is inside it`,
    );
  }
  const rng = new Rng(opts.seed ?? 0);
  const skippedRows: Record<string, number> = {};
  const load = (split: string, max: number | undefined): Example[] => {
    const { examples, skipped } = readSplit(task, dir, split);
    if (skipped > 0) skippedRows[`${split}.tsv`] = skipped;
    return subsample(examples, max, rng.fork());
  };
  const train = load('train', opts.maxTrain);
  const dev: Record<string, Example[]> = {};
  const baseline: Record<string, Baseline> = {};
  for (const split of fmt.devFiles) {
    dev[split] = load(split, opts.maxDev);
    baseline[split] = constantBaseline(
      fmt.spec,
      train.map((e) => e.label),
      dev[split].map((e) => e.label),
    );
  }
  const notes = [`GLUE ${task} from ${dir}`];
  for (const [file, n] of Object.entries(skippedRows))
    notes.push(`${file}: skipped ${n} rows with missing fields (as run_glue does)`);
  if (opts.maxTrain !== undefined || opts.maxDev !== undefined) {
    notes.push(
      `subsampled with seed ${opts.seed ?? 0}: maxTrain ${opts.maxTrain ?? 'all'}, maxDev ${opts.maxDev ?? 'all'}`,
    );
  }
  return { spec: fmt.spec, train, dev, baseline, skippedRows, notes };
}
