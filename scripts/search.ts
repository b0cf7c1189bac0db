/**
 * The measured search behind the `small` preset (docs/experiment-design.md): trains candidate
 * recipes with the kit's own pretrain(), and appends one record per run to
 * docs/search/runs.jsonl: config, steps, CPU seconds (process.cpuUsage, which counts the compute
 * threads too), wall seconds, validation loss and masked-token accuracy after each evaluation,
 * and the unigram line of the validation split (src/train/reference.ts), as pretrain() records them.
 *
 *   npm run build && node dist/scripts/search.js --runs ID[,ID…]   (IDs from CANDIDATES; --list)
 *
 * A recorded ID is skipped unless --again is given, so the file grows run by run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { EvalRecord, Manifest, StepRecord, pretrain } from '../src/train/pretrain';
import { readJsonl } from '../src/train/runlog';
import { loadPretrainData } from '../src/train/pretrain-data';
import { RunConfig, RunOverrides, Variant, resolveConfig } from '../src/train/config';
import { kitRoot } from '../src/util/paths';
import { listFlag, parseFlags } from '../src/cli/flags';
import { renderMarkdownTable } from '../src/util/tables';
import { baseLayout, LEGEND_BELOW, PALETTE } from '../src/plots/figures';
import { Figure, Trace } from '../src/plots/types';
import { closeExporter, exportFigure } from '../src/plots/export';

export interface Candidate {
  id: string;
  variant: Variant;
  /** Applied on top of the `small` preset. */
  overrides: RunOverrides;
  note: string;
}

export interface SearchRecord {
  id: string;
  variant: Variant;
  overrides: RunOverrides;
  note: string;
  config: RunConfig;
  params: number;
  steps: number;
  /** finished / diverged, or killed: stopped by hand once clearly behind (read back from its logs). */
  status: string;
  /** null for killed runs (the process that knew it is gone). */
  cpuSeconds: number | null;
  wallSeconds: number;
  trainSeconds: number;
  finalValLoss: number | null;
  unigram: number;
  maskedAccuracy: number | null;
  evals: { step: number; valLoss: number; valAccuracy: number | null; trainSeconds: number }[];
  /** Load average over the run (other processes shared the cores). */
  loadAvg: number[];
  finishedAt: string;
}

/** A shape: vocabulary, width and sequence; each candidate picks one and sets variant, LR and steps. */
const shape = (
  vocab: number,
  hidden: number,
  heads: number,
  ffn: number,
  seq: number,
  batch: number,
): RunOverrides => ({
  model: { vocabSize: vocab, hidden, heads, intermediate: ffn, maxPositions: seq },
  data: { vocab: vocab === 8192 ? 'data/vocab.txt' : `data/vocab-${vocab}.txt` },
  train: { seqLen: seq, batchSize: batch },
});

function cand(
  id: string,
  variant: Variant,
  base: RunOverrides,
  lr: number,
  steps: number,
  extra: { warmup?: number; dropout?: number; mask?: number; init?: number; note?: string } = {},
): Candidate {
  const d = extra.dropout ?? 0;
  return {
    id,
    variant,
    note: extra.note ?? '',
    overrides: {
      ...base,
      model: {
        ...base.model,
        hiddenDropout: d,
        attentionDropout: d,
        ...(extra.init !== undefined ? { initStd: extra.init } : {}),
      },
      optim: { lr, warmupFraction: extra.warmup ?? 0.05 },
      train: {
        ...base.train,
        steps,
        evalEvery: Math.max(25, Math.round(steps / 12 / 25) * 25),
        checkpointEvery: steps,
        gradNormEvery: 0,
        maskProb: extra.mask ?? 0.15,
      },
    },
  };
}

const V256 = shape(256, 64, 2, 256, 64, 16);
const V512 = shape(512, 64, 2, 256, 64, 16);
const V128 = shape(128, 64, 2, 256, 64, 16);
const V256S32 = shape(256, 64, 2, 256, 32, 32);
const V256W = shape(256, 96, 2, 384, 64, 16);

export const CANDIDATES: Candidate[] = [
  cand('v256-preln-3e-3-400', 'preln', V256, 3e-3, 400),
  cand('v512-preln-3e-3-400', 'preln', V512, 3e-3, 400),
  cand('v128-preln-3e-3-400', 'preln', V128, 3e-3, 400),
  cand('v256s32-preln-3e-3-400', 'preln', V256S32, 3e-3, 400),
  cand('v256-preln-1e-3-400', 'preln', V256, 1e-3, 400),
  cand('v256-preln-6e-3-400', 'preln', V256, 6e-3, 400),
  cand('v256w-preln-3e-3-400', 'preln', V256W, 3e-3, 400),
  cand('v256-postln-3e-4-400', 'postln', V256, 3e-4, 400),
  cand('v256-postln-3e-3-400', 'postln', V256, 3e-3, 400),
  cand('v256-pld-3e-3-400', 'preln-pld', V256, 3e-3, 400),
  cand('v256-preln-3e-3-1200', 'preln', V256, 3e-3, 1200),
  cand('v128-preln-3e-3-1200', 'preln', V128, 3e-3, 1200),
  cand('v512-preln-3e-3-1200', 'preln', V512, 3e-3, 1200),
  cand('v256-preln-1e-2-1200', 'preln', V256, 1e-2, 1200),
  cand('v128-preln-1e-2-1200', 'preln', V128, 1e-2, 1200),
  cand('v128b64-preln-3e-3-1200', 'preln', shape(128, 64, 2, 256, 64, 64), 3e-3, 1200),
  cand('v128h128-preln-3e-3-1200', 'preln', shape(128, 128, 4, 512, 64, 16), 3e-3, 1200),
  cand('v128-preln-3e-3-2400', 'preln', V128, 3e-3, 2400),
  cand('v128m40-preln-3e-3-1200', 'preln', V128, 3e-3, 1200, { mask: 0.4 }),
  cand('v128m40-preln-5e-3-1200', 'preln', V128, 5e-3, 1200, { mask: 0.4 }),
  cand('v256m40-preln-3e-3-1200', 'preln', V256, 3e-3, 1200, { mask: 0.4 }),
  cand('v128m40i07-preln-3e-3-1200', 'preln', V128, 3e-3, 1200, { mask: 0.4, init: 0.07 }),
  cand('v128m40i07-preln-3e-3-600', 'preln', V128, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v128m40i07-postln-3e-4-600', 'postln', V128, 3e-4, 600, { mask: 0.4, init: 0.07 }),
  cand('v128m40i07-pld-3e-3-600', 'preln-pld', V128, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v128m40i07-postln-3e-3-600', 'postln', V128, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v128m40i07-postln-1e-3-600', 'postln', V128, 1e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v256m40i07-preln-3e-3-600', 'preln', V256, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v256m40i07-pld-3e-3-600', 'preln-pld', V256, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v256m40i07-postln-3e-4-600', 'postln', V256, 3e-4, 600, { mask: 0.4, init: 0.07 }),
  cand('v256m40i07-postln-3e-3-600', 'postln', V256, 3e-3, 600, { mask: 0.4, init: 0.07 }),
  cand('v256b64m40i07-preln-3e-3-400', 'preln', shape(256, 64, 2, 256, 64, 64), 3e-3, 400, { mask: 0.4, init: 0.07 }),
  // The chosen `small` preset as it stands in src/train/config.ts (no overrides).
  { id: 'small-preset-preln', variant: 'preln', overrides: {}, note: 'the small preset' },
  { id: 'small-preset-pld', variant: 'preln-pld', overrides: {}, note: 'the small preset' },
  { id: 'small-preset-postln', variant: 'postln', overrides: {}, note: 'the small preset' },
  cand('v128s32-preln-3e-3-1200', 'preln', shape(128, 64, 2, 256, 32, 32), 3e-3, 1200),
];

// --- Driver -------------------------------------------------------------------------------------

export const RECORDS = path.join(kitRoot(), 'docs', 'search', 'runs.jsonl');

export function readRecords(file = RECORDS): SearchRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SearchRecord);
}

async function runOne(c: Candidate): Promise<SearchRecord> {
  const cfg = resolveConfig(c.variant, 'small', c.overrides);
  const out = path.join(kitRoot(), 'runs', 'search', c.id);
  fs.rmSync(out, { recursive: true, force: true });
  const load0 = require('os').loadavg() as number[];
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const r = await pretrain({
    variant: c.variant,
    preset: 'small',
    overrides: [c.overrides],
    out,
    onNonFinite: 'stop',
    quiet: true,
  });
  const cpu = process.cpuUsage(cpu0);
  const wall = (Date.now() - t0) / 1000;
  const load1 = require('os').loadavg() as number[];
  const rec: SearchRecord = {
    id: c.id,
    variant: c.variant,
    overrides: c.overrides,
    note: c.note,
    config: cfg,
    params: r.manifest.params,
    steps: cfg.train.steps,
    status: r.manifest.status,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: wall,
    trainSeconds: r.trainSeconds,
    finalValLoss: r.finalValLoss,
    unigram: r.manifest.reference.unigramLoss,
    maskedAccuracy: r.manifest.finalValAccuracy,
    evals: r.evals.map((e) => ({
      step: e.step,
      valLoss: e.valLoss,
      valAccuracy: e.valAccuracy,
      trainSeconds: e.trainSeconds,
    })),
    loadAvg: [load0[0], load1[0]],
    finishedAt: new Date().toISOString(),
  };
  return rec;
}

// --- Report -------------------------------------------------------------------------------------

const DOC = path.join(kitRoot(), 'docs', 'experiment-design.md');
const BEGIN = '<!-- search-table:begin (node dist/scripts/search.js --report) -->';
const END = '<!-- search-table:end -->';

/** CPU seconds spent by each evaluation: the run's CPU time shared out in proportion to training time. */
function cpuAt(r: SearchRecord): number[] {
  return r.evals.map((e) =>
    r.cpuSeconds !== null && r.trainSeconds > 0 ? (r.cpuSeconds * e.trainSeconds) / r.trainSeconds : NaN,
  );
}

const fmt = (x: number | null | undefined, d: number): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);

function recipe(r: SearchRecord): string[] {
  const c = r.config;
  return [
    r.id,
    r.variant,
    String(c.model.vocabSize),
    `${c.model.hidden}/${c.model.heads}/${c.model.intermediate}`,
    `${c.train.seqLen}×${c.train.batchSize}`,
    String(c.train.maskProb ?? 0.15),
    String(c.model.initStd),
    String(c.optim.lr),
    String(r.steps),
  ];
}

/** The search table (markdown) and the figure of loss below the unigram line against CPU minutes. */
async function report(): Promise<void> {
  const recs = readRecords();
  const copy = new Map<string, number>();
  for (const r of recs)
    if (!copy.has(r.config.data.vocab)) copy.set(r.config.data.vocab, loadPretrainData(r.config).reference.copyLoss);
  const header = [
    'run',
    'variant',
    'vocab',
    'hidden/heads/FFN',
    'seq×batch',
    'mask',
    'init σ',
    'LR',
    'steps',
    'status',
    'CPU s',
    'CPU ms/step',
    'unigram',
    'copy line',
    'final val',
    'below unigram',
    'below copy line',
    'masked acc.',
    'nats below unigram per CPU-min',
  ];
  const rows = recs.map((r) => {
    const gap = r.finalValLoss === null ? NaN : r.unigram - r.finalValLoss;
    const cl = copy.get(r.config.data.vocab) as number;
    return [
      ...recipe(r),
      r.status,
      fmt(r.cpuSeconds, 0),
      fmt(r.cpuSeconds === null ? null : (1000 * r.cpuSeconds) / r.steps, 0),
      fmt(r.unigram, 3),
      fmt(cl, 3),
      fmt(r.finalValLoss, 3),
      fmt(gap, 3),
      fmt(r.finalValLoss === null ? null : cl - r.finalValLoss, 3),
      fmt(r.maskedAccuracy, 3),
      fmt(r.cpuSeconds === null ? null : gap / (r.cpuSeconds / 60), 3),
    ];
  });
  const table = renderMarkdownTable(
    header,
    rows,
    header.map((_, i) => (i < 2 ? 'left' : 'right')),
  );
  const doc = fs.readFileSync(DOC, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${DOC} lacks the markers ${BEGIN} … ${END}`);
  const lines = [...copy].map(([v, l]) => `- ${v}: copy line ${l.toFixed(3)} nats`).join('\n');
  fs.writeFileSync(DOC, doc.slice(0, a + BEGIN.length) + '\n\n' + lines + '\n\n' + table + '\n\n' + doc.slice(b));
  const measured = recs.filter((r) => r.cpuSeconds !== null);
  const data: Trace[] = measured.map((r, i) => {
    const cpu = cpuAt(r);
    return {
      type: 'scatter',
      mode: 'lines+markers',
      name: r.id,
      x: cpu.map((c) => c / 60),
      y: r.evals.map((e) => r.unigram - e.valLoss),
      line: {
        color: PALETTE[i % PALETTE.length],
        dash: r.variant === 'postln' ? 'dash' : r.variant === 'preln-pld' ? 'dot' : 'solid',
      },
      marker: { size: 4 },
    };
  });
  data.push({
    type: 'scatter',
    mode: 'lines',
    name: 'target: 1 nat below the unigram line',
    x: [0, Math.max(...measured.map((r) => (r.cpuSeconds as number) / 60))],
    y: [1, 1],
    line: { color: '#444', dash: 'dash', width: 1 },
  });
  const fig: Figure = {
    data,
    layout: baseLayout(
      'Search: validation MLM loss below the unigram line',
      'CPU minutes (training, 1 thread)',
      'unigram line − validation loss (nats)',
      { ...LEGEND_BELOW, height: 720, margin: { l: 70, r: 30, t: 60, b: 300 } },
    ),
  };
  await exportFigure(fig, path.join(kitRoot(), 'docs', 'search', 'loss-below-unigram-vs-cpu'), {
    formats: ['png', 'svg'],
  });
  await closeExporter();
}

/** A run stopped by hand, recorded from what its logs hold (no CPU time, no accuracy). */
function salvage(c: Candidate): SearchRecord {
  const cfg = resolveConfig(c.variant, 'small', c.overrides);
  const out = path.join(kitRoot(), 'runs', 'search', c.id);
  const evals = readJsonl<EvalRecord>(path.join(out, 'eval.jsonl'));
  const steps = readJsonl<StepRecord>(path.join(out, 'log.jsonl'));
  if (evals.length === 0) throw new Error(`${c.id}: no evaluation in ${out}; nothing to record`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
  return {
    id: c.id,
    variant: c.variant,
    overrides: c.overrides,
    note: c.note,
    config: cfg,
    params: m.params,
    steps: steps.length,
    status: 'killed',
    cpuSeconds: null,
    wallSeconds: (fs.statSync(path.join(out, 'log.jsonl')).mtimeMs - Date.parse(m.startedAt)) / 1000,
    trainSeconds: steps.at(-1)?.trainSeconds ?? 0,
    finalValLoss: evals[evals.length - 1].valLoss,
    unigram: loadPretrainData(cfg).reference.unigramLoss,
    maskedAccuracy: evals[evals.length - 1].valAccuracy ?? null,
    evals: evals.map((e) => ({
      step: e.step,
      valLoss: e.valLoss,
      valAccuracy: e.valAccuracy ?? null,
      trainSeconds: e.trainSeconds,
    })),
    loadAvg: [],
    finishedAt: new Date(fs.statSync(path.join(out, 'log.jsonl')).mtimeMs).toISOString(),
  };
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2), {
    runs: 'value',
    again: 'switch',
    list: 'switch',
    salvage: 'value',
    report: 'switch',
  });
  if (f.has('report')) return report();
  if (f.has('list')) {
    for (const c of CANDIDATES) console.log(c.id);
    return;
  }
  const lost = listFlag(f, 'salvage');
  if (lost) {
    for (const id of lost) {
      const c = CANDIDATES.find((x) => x.id === id);
      if (!c) throw new Error(`unknown candidate ${id}; see --list`);
      if (readRecords().some((r) => r.id === id)) throw new Error(`${id} is recorded already`);
      fs.appendFileSync(RECORDS, JSON.stringify(salvage(c)) + '\n');
    }
    return;
  }
  const ids = listFlag(f, 'runs');
  if (!ids) throw new Error('--runs ID[,ID…] is required (see --list)');
  const unknown = ids.filter((id) => !CANDIDATES.some((c) => c.id === id));
  if (unknown.length) throw new Error(`unknown candidate ${unknown.join(', ')}; see --list`);
  fs.mkdirSync(path.dirname(RECORDS), { recursive: true });
  for (const id of ids) {
    if (!f.has('again') && readRecords().some((r) => r.id === id)) {
      console.log(`${id}: recorded already (--again to rerun)`);
      continue;
    }
    const rec = await runOne(CANDIDATES.find((c) => c.id === id) as Candidate);
    fs.appendFileSync(RECORDS, JSON.stringify(rec) + '\n');
    const gap = rec.finalValLoss === null ? NaN : rec.unigram - rec.finalValLoss;
    console.log(
      `${id}: ${rec.status} val ${rec.finalValLoss?.toFixed(3)} unigram ${rec.unigram.toFixed(3)} (gap ${gap.toFixed(3)}) acc ${rec.maskedAccuracy?.toFixed(3)} cpu ${rec.cpuSeconds?.toFixed(0)} s wall ${rec.wallSeconds.toFixed(0)} s (${(((rec.cpuSeconds ?? NaN) / rec.steps) * 1000).toFixed(0)} cpu-ms/step) load ${rec.loadAvg.map((x) => x.toFixed(1)).join('→')}`,
    );
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`search: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
