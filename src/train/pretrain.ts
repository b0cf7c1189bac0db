/**
 * Pretraining: one run = variant × preset × seed × learning rate. The loop reads top to bottom:
 * data → gates → step → log → evaluate → checkpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { BackendInfo, BackendName, describeBackend, initBackend } from '../backend';
import { Bert, countParams, createBert, disposeBert } from '../model/bert';
import { Rng } from '../util/rng';
import { expectedBlocks, sampleGates } from '../schedule';
import { CheckpointState, saveCheckpoint, loadCheckpoint, readCheckpointState } from '../checkpoint/checkpoint';
import { MlmBatchArrays, PretrainBatcher } from '../data/masking';
import { checkWritableDir, recoverDir, writeFileAtomic } from '../util/atomic';
import { environment, Environment } from '../util/manifest';
import { RunConfig, RunOverrides, resolveConfig } from './config';
import { AdamW } from './optimizer';
import { learningRate } from './lr';
import { mlmEvaluate, mlmTrainStep } from './mlm';
import { ReferenceLines } from './reference';
import { NonFiniteError } from './step';
import { Progress, createProgress } from './progress';
import { JsonlWriter, LogRecord, readJsonl, toCsv, truncateLog } from './runlog';
import { PretrainData, BatcherState, loadPretrainData } from './pretrain-data';

export interface PretrainOptions {
  variant: string;
  preset?: string;
  /** Overrides applied in order (a config file's contents, then CLI flags). */
  overrides?: RunOverrides[];
  /** Output directory; default runs/<preset>/<variant>-s<seed>-lr<lr>. */
  out?: string;
  resume?: boolean;
  backend?: BackendName;
  threads?: number;
  /** On a NaN/Inf loss: 'throw' (CLI) or 'stop' and return `diverged: true` (LR sweeps). */
  onNonFinite?: 'throw' | 'stop';
  /** Stop after this many steps of this invocation (tests of resume); the run is not finished. */
  maxStepsThisCall?: number;
  quiet?: boolean;
  /** Where progress goes (default stderr). */
  stream?: NodeJS.WriteStream;
  /** Pre-loaded data (lets a notebook reuse it across runs). */
  data?: PretrainData;
}

export interface StepRecord extends LogRecord {
  step: number;
  lr: number;
  loss: number;
  theta: number;
  expectedBlocks: number;
  blocksRun: number;
  samplesPerSec: number;
  /** Cumulative training seconds (no evaluation or checkpoint time, no untimed warm-up step). */
  trainSeconds: number;
  /** False for the first UNTIMED_STEPS steps of each process, whose time counts for no variant. */
  timed: boolean;
  gradNorm: number;
  /** Per-block gradient L2 norms (null for dropped blocks) on steps where they are recorded. */
  blockGradNorms: (number | null)[] | null;
}

export interface EvalRecord extends LogRecord {
  /** Optimizer steps done when evaluated. */
  step: number;
  valLoss: number;
  /** Top-1 accuracy at the masked validation positions. */
  valAccuracy: number;
  /** The no-context reference lines of the validation split (src/train/reference.ts). */
  unigramLoss: number;
  unigramAccuracy: number;
  trainSeconds: number;
}

export interface PretrainResult {
  out: string;
  config: RunConfig;
  finished: boolean;
  diverged: boolean;
  error: string | null;
  steps: StepRecord[];
  evals: EvalRecord[];
  finalValLoss: number | null;
  trainSeconds: number;
  checkpoint: string;
  manifest: Manifest;
}

export interface Manifest {
  kind: 'pretrain';
  /** failed: an error other than divergence ended the run (`error` says which); its checkpoints are intact. */
  status: 'running' | 'finished' | 'stopped' | 'diverged' | 'failed';
  variant: string;
  preset: string;
  seed: number;
  config: RunConfig;
  environment: Environment;
  corpus: {
    hash: string;
    documents: number;
    trainSequences: number;
    validSequences: number;
    words: number;
    tokens: number;
  };
  params: number;
  startedAt: string;
  totalSeconds: number;
  trainSeconds: number;
  finalValLoss: number | null;
  finalValAccuracy: number | null;
  /** Unigram loss and accuracy of the validation split: the line a model using context must beat. */
  reference: ReferenceLines;
  error: string | null;
}

type CkptState = { data: BatcherState };

/**
 * Steps at the start of each process whose time is not counted: they pay for process start-up and
 * the first kernel compilation (wasm/XNNPACK operator creation, WebGPU pipelines), a cost the
 * paper's long runs amortise to nothing and that would otherwise favour whichever variant runs
 * second. They still train, the same for every variant.
 */
export const UNTIMED_STEPS = 3;

export function defaultOutDir(c: RunConfig): string {
  return path.join('runs', c.preset, `${c.variant}-s${c.seed}-lr${c.optim.lr}`);
}

/** First differing field between two JSON values, as a dotted path (for config-mismatch errors). */
function firstDifference(a: unknown, b: unknown, at = ''): string | null {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return JSON.stringify(a) === JSON.stringify(b) ? null : at || '(root)';
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      at ? `${at}.${k}` : k,
    );
    if (d) return d;
  }
  return null;
}

/** A checkpoint read back, with the config it was made with. */
type ResumeState = CheckpointState<RunConfig, CkptState>;

/**
 * Checks the output directory before any work: a run already there needs `resume`, `resume`
 * needs a checkpoint, and that checkpoint must have been made with the same config. Returns the
 * checkpoint's state when resuming.
 */
function checkOutDir(cfg: RunConfig, out: string, ckptDir: string, resume: boolean): ResumeState | null {
  if (resume) recoverDir(ckptDir); // a run killed mid-save left its previous checkpoint as checkpoint.old
  const hasCheckpoint = fs.existsSync(path.join(ckptDir, 'state.json'));
  const hasLog = fs.existsSync(path.join(out, 'log.jsonl'));
  if ((hasCheckpoint || hasLog) && !resume)
    throw new Error(
      `output directory ${out} already holds a run; pass --resume to continue it or choose another --out`,
    );
  if (!resume) {
    checkWritableDir(out);
    return null;
  }
  if (!hasCheckpoint) {
    throw new Error(
      hasLog
        ? `nothing to resume in ${out}: its run stopped before its first checkpoint; delete ${out} or choose another --out`
        : `nothing to resume in ${out}: it holds no checkpoint (${path.join(ckptDir, 'state.json')}); check --out, or drop --resume to start a new run`,
    );
  }
  const state = readCheckpointState<RunConfig, CkptState>(ckptDir);
  const diff = firstDifference(state.config, cfg);
  if (diff)
    throw new Error(
      `checkpoint ${ckptDir} was made with a different config (field '${diff}' differs); resume with the same variant, preset and overrides, or choose another --out`,
    );
  checkWritableDir(out);
  return state;
}

/** What the loop trains and advances: the model, its optimizer, the data stream and the random stream. */
interface TrainingState {
  model: Bert;
  opt: AdamW;
  batcher: PretrainBatcher;
  stepRng: Rng;
  /** First step of this call. */
  start: number;
  /** Training seconds so far, over every call of this run. */
  trainSeconds: number;
}

/** A fresh model, or the checkpoint's weights, optimizer, data position and RNG (logs cut back to its step). */
function initTraining(
  cfg: RunConfig,
  data: PretrainData,
  out: string,
  ckptDir: string,
  resume: ResumeState | null,
): TrainingState {
  const rng = new Rng(cfg.seed);
  const model: Bert = createBert(cfg.model, rng.fork());
  const opt = new AdamW(
    { beta1: cfg.optim.beta1, beta2: cfg.optim.beta2, eps: cfg.optim.eps, weightDecay: cfg.optim.weightDecay },
    model.decay,
  );
  const trainRng = rng.fork();
  const batcher = data.trainBatcher(cfg, trainRng.fork());
  const state: TrainingState = { model, opt, batcher, stepRng: trainRng, start: 0, trainSeconds: 0 };
  if (resume) {
    const s = loadCheckpoint<RunConfig, CkptState>(ckptDir, model, opt);
    state.start = s.step;
    state.trainSeconds = s.trainSeconds;
    state.stepRng = Rng.fromState(s.rng);
    batcher.setState(s.data.data);
    truncateLog(path.join(out, 'log.jsonl'), state.start);
    truncateLog(path.join(out, 'eval.jsonl'), state.start + 1);
  }
  return state;
}

function newManifest(
  cfg: RunConfig,
  backend: BackendInfo,
  data: PretrainData,
  model: Bert,
  started: number,
  trainSeconds: number,
): Manifest {
  return {
    kind: 'pretrain',
    status: 'running',
    variant: cfg.variant,
    preset: cfg.preset,
    seed: cfg.seed,
    config: cfg,
    environment: environment(backend),
    corpus: data.stats,
    params: countParams(model).total,
    startedAt: new Date(started).toISOString(),
    totalSeconds: 0,
    trainSeconds,
    finalValLoss: null,
    finalValAccuracy: null,
    reference: data.reference,
    error: null,
  };
}

interface LoopIo {
  out: string;
  ckptDir: string;
  /** Last step (exclusive) of this call. */
  end: number;
  validBatches: MlmBatchArrays[];
  reference: ReferenceLines;
  log: JsonlWriter;
  evalLog: JsonlWriter;
  progress: Progress;
}

/**
 * The training loop, top to bottom: data → gates → step → log → evaluate → checkpoint. A
 * non-finite loss ends it as diverged; any other error leaves it.
 */
async function trainLoop(
  cfg: RunConfig,
  t: TrainingState,
  io: LoopIo,
): Promise<{ diverged: boolean; error: string | null; lastVal: EvalRecord | null }> {
  const L = cfg.model.layers;
  const sched = {
    peak: cfg.optim.lr,
    warmupSteps: Math.max(1, Math.round(cfg.optim.warmupFraction * cfg.train.steps)),
    totalSteps: cfg.train.steps,
  };
  let lastVal: EvalRecord | null = null;
  try {
    for (let step = t.start; step < io.end; step++) {
      const batch = t.batcher.next();
      const gates = sampleGates(cfg.schedule, L, step, t.stepRng);
      const lr = learningRate(sched, step);
      const t0 = performance.now();
      const r = await mlmTrainStep(t.model, t.opt, batch, {
        gates,
        rng: t.stepRng,
        lr,
        clipNorm: cfg.optim.clipNorm,
        step,
      });
      const dt = (performance.now() - t0) / 1000;
      const timed = step - t.start >= UNTIMED_STEPS;
      if (timed) t.trainSeconds += dt;
      const every = cfg.train.gradNormEvery;
      const rec: StepRecord = {
        step,
        lr,
        loss: r.loss,
        theta: gates.theta,
        expectedBlocks: expectedBlocks(cfg.schedule, L, gates.theta),
        blocksRun: gates.keep.filter(Boolean).length,
        samplesPerSec: cfg.train.batchSize / dt,
        trainSeconds: t.trainSeconds,
        timed,
        gradNorm: r.gradNorm,
        blockGradNorms: every > 0 && step % every === 0 ? r.blockGradNorms : null,
      };
      io.log.write(rec);
      io.progress.update(step, { loss: r.loss, extra: `θ ${gates.theta.toFixed(3)} blocks ${rec.blocksRun}/${L}` });
      await io.progress.flush();
      const done = step + 1;
      if (done % cfg.train.evalEvery === 0 || done === cfg.train.steps) {
        const v = await mlmEvaluate(t.model, io.validBatches);
        lastVal = {
          step: done,
          valLoss: v.loss,
          valAccuracy: v.accuracy,
          unigramLoss: io.reference.unigramLoss,
          unigramAccuracy: io.reference.unigramAccuracy,
          trainSeconds: t.trainSeconds,
        };
        io.evalLog.write(lastVal);
        io.progress.line(
          `${cfg.variant} step ${done}: validation loss ${v.loss.toFixed(4)} (unigram ${io.reference.unigramLoss.toFixed(3)}), masked accuracy ${(100 * v.accuracy).toFixed(1)} %`,
        );
      }
      if (
        (cfg.train.checkpointEvery > 0 && done % cfg.train.checkpointEvery === 0) ||
        done === cfg.train.steps ||
        done === io.end
      ) {
        await saveCheckpoint<RunConfig, CkptState>(io.ckptDir, t.model, t.opt, {
          step: done,
          config: cfg,
          rng: t.stepRng.state,
          data: { data: t.batcher.getState() },
          trainSeconds: t.trainSeconds,
        });
      }
    }
  } catch (e) {
    if (!(e instanceof NonFiniteError)) throw e;
    io.progress.line(`${cfg.variant}: ${e.message}`);
    return { diverged: true, error: e.message, lastVal };
  }
  return { diverged: false, error: null, lastVal };
}

/** Ends the loop's outputs and frees the model; after a failure, errors while freeing are ignored. */
function closeLoop(io: LoopIo, t: { model: Bert; opt: AdamW }, failed: boolean): void {
  io.progress.done();
  io.log.close();
  io.evalLog.close();
  try {
    disposeBert(t.model);
    t.opt.dispose();
  } catch (e) {
    if (!failed) throw e;
  }
}

/** The per-step and evaluation logs as CSV beside their JSONL; returns both logs. */
function writeCsvLogs(out: string): { steps: StepRecord[]; evals: EvalRecord[] } {
  const steps = readJsonl<StepRecord>(path.join(out, 'log.jsonl'));
  const evals = readJsonl<EvalRecord>(path.join(out, 'eval.jsonl'));
  writeFileAtomic(path.join(out, 'log.csv'), toCsv(steps));
  writeFileAtomic(path.join(out, 'eval.csv'), toCsv(evals));
  return { steps, evals };
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const cfg = resolveConfig(o.variant, o.preset ?? 'small', ...(o.overrides ?? []));
  const out = o.out ?? defaultOutDir(cfg);
  const ckptDir = path.join(out, 'checkpoint');
  const resume = checkOutDir(cfg, out, ckptDir, o.resume ?? false);

  const backend = await initBackend({ backend: o.backend, threads: o.threads });
  const data = o.data ?? loadPretrainData(cfg);
  const t = initTraining(cfg, data, out, ckptDir, resume);
  const validBatches = data.validBatches(cfg);
  const started = Date.now();
  const manifest = newManifest(cfg, backend, data, t.model, started, t.trainSeconds);
  const writeManifest = (): void => writeFileAtomic(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
  writeManifest();

  const io: LoopIo = {
    out,
    ckptDir,
    end: Math.min(cfg.train.steps, t.start + (o.maxStepsThisCall ?? Infinity)),
    validBatches,
    reference: data.reference,
    log: new JsonlWriter(path.join(out, 'log.jsonl')),
    evalLog: new JsonlWriter(path.join(out, 'eval.jsonl')),
    progress: createProgress(`${cfg.variant}/${cfg.preset}`, cfg.train.steps, t.start, o.stream, o.quiet),
  };
  io.progress.line(
    `${cfg.variant} preset=${cfg.preset} seed=${cfg.seed} lr=${cfg.optim.lr} on ${describeBackend(backend)}; ${manifest.params} parameters; out ${out}${t.start ? `; resuming at step ${t.start}` : ''}`,
  );
  let outcome: { diverged: boolean; error: string | null; lastVal: EvalRecord | null };
  try {
    outcome = await trainLoop(cfg, t, io);
  } catch (e) {
    // Record why the run ended before the error leaves (the last checkpoint stays as it was).
    manifest.status = 'failed';
    manifest.error = e instanceof Error ? e.message : String(e);
    manifest.trainSeconds = t.trainSeconds;
    writeManifest();
    // A backend that failed (a wasm heap out of memory) may trap again while the weights are
    // freed; the first error is the one that explains the run, so freeing must not replace it.
    closeLoop(io, t, true);
    throw e;
  }
  closeLoop(io, t, false);
  const { steps, evals } = writeCsvLogs(out);
  const { diverged, error } = outcome;
  const finished = !diverged && io.end === cfg.train.steps;
  manifest.status = diverged ? 'diverged' : finished ? 'finished' : 'stopped';
  manifest.totalSeconds += (Date.now() - started) / 1000;
  manifest.trainSeconds = t.trainSeconds;
  const lastEval = outcome.lastVal ?? evals.at(-1) ?? null;
  manifest.finalValLoss = lastEval?.valLoss ?? null;
  manifest.finalValAccuracy = lastEval?.valAccuracy ?? null;
  manifest.error = error;
  writeManifest();
  if (diverged && o.onNonFinite !== 'stop') throw new Error(error ?? 'diverged');
  return {
    out,
    config: cfg,
    finished,
    diverged,
    error,
    steps,
    evals,
    finalValLoss: manifest.finalValLoss,
    trainSeconds: t.trainSeconds,
    checkpoint: ckptDir,
    manifest,
  };
}
