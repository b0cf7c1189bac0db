/**
 * A pretraining run's folder as danfojs DataFrames, for slicing in a notebook or script:
 *
 *   const run = pld.loadRun('runs/small/preln-pld-s0-lr0.001');
 *   run.steps.loc({ columns: ['step', 'loss', 'theta'] }).tail(5).print();
 *
 * Reads what `pretrain` writes (manifest.json, log.jsonl, eval.jsonl), also while the run is still
 * going. danfojs-node is loaded on the first call: it is large and most callers never need it.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { DataFrame } from 'danfojs-node';
import type { EvalRecord, Manifest, StepRecord } from '../train/pretrain';
import { flattenRecord, readJsonl } from '../train/runlog';

export interface RunFrames {
  dir: string;
  /** One row per optimizer step: step, lr, loss, theta, expectedBlocks, blocksRun, samplesPerSec, trainSeconds, gradNorm. */
  steps: DataFrame;
  /** One row per validation evaluation: step, valLoss, trainSeconds. */
  evals: DataFrame;
  /** One row per step whose per-block gradient norms were recorded: step, block_1 … block_L (null: block dropped). */
  gradNorms: DataFrame;
  /** The manifest flattened to rows of (field, value), e.g. ('config.optim.lr', '0.001'). */
  manifest: DataFrame;
  /** The manifest as written. */
  info: Manifest;
}

type Danfo = typeof import('danfojs-node');

function danfo(): Danfo {
  return require('danfojs-node') as Danfo;
}

/** Dotted paths and values of a JSON object (arrays as JSON text). */
function flattenJson(v: unknown, at: string, out: { field: string; value: string }[]): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flattenJson(x, at ? `${at}.${k}` : k, out);
  } else {
    out.push({ field: at, value: typeof v === 'string' ? v : JSON.stringify(v) });
  }
}

/** The evaluation record's fields (EvalRecord), the columns of a run not yet evaluated. */
const EVAL_COLUMNS: (keyof EvalRecord & string)[] = [
  'step',
  'valLoss',
  'valAccuracy',
  'unigramLoss',
  'unigramAccuracy',
  'trainSeconds',
];

/** A DataFrame of rows, with the given columns when there are none (danfojs cannot build an empty frame from rows). */
function frame(rows: Record<string, unknown>[], columns: string[]): DataFrame {
  const dfd = danfo();
  return rows.length ? new dfd.DataFrame(rows) : new dfd.DataFrame([], { columns });
}

/** Loads a pretraining run's logs and manifest as DataFrames; throws one line naming the folder when it is not a run. */
export function loadRun(dir: string): RunFrames {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file))
    throw new Error(
      `loadRun: ${dir} is not a pretraining run (no manifest.json); pass the folder pretrain wrote, e.g. runs/<preset>/<variant>-s<seed>-lr<lr>`,
    );
  let info: Manifest;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  } catch {
    throw new Error(`loadRun: ${file} is not valid JSON; the run's manifest is damaged`);
  }
  const steps = readJsonl<StepRecord>(path.join(dir, 'log.jsonl'));
  const evals = readJsonl<EvalRecord>(path.join(dir, 'eval.jsonl'));
  const stepCols = [
    'step',
    'lr',
    'loss',
    'theta',
    'expectedBlocks',
    'blocksRun',
    'samplesPerSec',
    'trainSeconds',
    'gradNorm',
  ];
  const recorded = steps.filter((s) => Array.isArray(s.blockGradNorms));
  // Blocks numbered from 1 (the input side), as in the figures.
  const gradRows = recorded.map((s) => ({
    step: s.step,
    ...Object.fromEntries((s.blockGradNorms ?? []).map((g, i) => [`block_${i + 1}`, g])),
  }));
  const blocks = info.config?.model?.layers ?? 0;
  const manifestRows: { field: string; value: string }[] = [];
  flattenJson(info, '', manifestRows);
  return {
    dir,
    steps: frame(
      steps.map(({ blockGradNorms: _drop, ...rest }) => flattenRecord(rest)),
      stepCols,
    ),
    evals: frame(
      evals.map((e) => flattenRecord(e)),
      EVAL_COLUMNS,
    ),
    gradNorms: frame(gradRows, ['step', ...Array.from({ length: blocks }, (_, i) => `block_${i + 1}`)]),
    manifest: frame(manifestRows, ['field', 'value']),
    info,
  };
}
