/**
 * Run configuration: presets as typed values, merged as
 * `{ ...defaults, ...preset, ...file, ...flags }` section by section. Unknown or mistyped keys are
 * rejected by name, so a typo never silently trains with a default.
 */
import * as fs from 'fs';
import { BERT_BASE, ModelConfig, validateModelConfig } from '../model/config';
import { ScheduleConfig, validateSchedule, NO_DROP } from '../schedule';

export const VARIANTS = ['postln', 'preln', 'preln-pld'] as const;
export type Variant = (typeof VARIANTS)[number];
export const PRESETS = ['quick', 'small', 'base'] as const;
export type PresetName = (typeof PRESETS)[number];

export interface OptimConfig {
  /** Peak learning rate. Paper: 1e-3 for PreLN/PLD; PostLN needs ~1e-4 (diverges at large LRs). Per preset: PEAK_LR. */
  lr: number;
  /** Fraction of steps spent warming up (paper: 2 %; larger at small scale, see presets). */
  warmupFraction: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip (paper: 1.0). */
  clipNorm: number;
}

export interface DataConfig {
  /** npm-installed corpora to read. */
  sources: ('brown' | 'sotu')[];
  /** Optional folder of .txt files (one document each), used in addition to `sources`. */
  folder: string | null;
  /** BERT-format vocab.txt. */
  vocab: string;
  /** Documents held out for validation loss. */
  validFraction: number;
  /** Seed of the document split (fixed so every run validates on the same text). */
  splitSeed: number;
}

export interface TrainConfig {
  steps: number;
  batchSize: number;
  seqLen: number;
  /** Validation MLM loss every this many steps (and at the end). */
  evalEvery: number;
  /** Validation batches per evaluation. */
  evalBatches: number;
  /** Checkpoint every this many steps (and at the end); 0 = only at the end. */
  checkpointEvery: number;
  /** Record per-block gradient norms every this many steps (0 = never). */
  gradNormEvery: number;
  /**
   * Fraction of training tokens selected for prediction (BERT: 0.15). Validation always masks
   * 15 %, so losses of runs with different training rates compare on the same positions.
   */
  maskProb: number;
}

export interface RunConfig {
  variant: Variant;
  preset: PresetName;
  seed: number;
  model: ModelConfig;
  schedule: ScheduleConfig;
  optim: OptimConfig;
  data: DataConfig;
  train: TrainConfig;
}

/** Everything a preset or user may override: each section partially. */
export interface RunOverrides {
  seed?: number;
  model?: Partial<ModelConfig>;
  schedule?: Partial<ScheduleConfig>;
  optim?: Partial<OptimConfig>;
  data?: Partial<DataConfig>;
  train?: Partial<TrainConfig>;
}

/** BERT's choices (dropout, init, LayerNorm epsilon, 12 blocks) at a width a CPU can train. */
const DEFAULT_MODEL: ModelConfig = {
  ...BERT_BASE,
  vocabSize: 8192, // data/vocab.txt, trained on the corpus's train split
  hidden: 128,
  layers: 12, // the paper's depth: the depth schedule needs many blocks to mean something
  heads: 4,
  intermediate: 512,
  maxPositions: 128,
};

/**
 * The pretraining validation split: a document is held out when hash(seed, id) < validFraction
 * (`splitDocuments`). It is the default of `data.validFraction` / `data.splitSeed`, and the offline
 * fine-tuning tasks leave out exactly these documents, so fine-tuning never sees pretraining's
 * validation text.
 */
export const PRETRAIN_SPLIT = { validFraction: 0.05, seed: 0 } as const;

const DEFAULTS: Omit<RunConfig, 'variant' | 'preset'> = {
  seed: 1,
  model: DEFAULT_MODEL,
  schedule: NO_DROP,
  optim: { lr: 1e-3, warmupFraction: 0.02, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-6, clipNorm: 1 },
  data: {
    sources: ['brown', 'sotu'],
    folder: null,
    vocab: 'data/vocab.txt',
    validFraction: PRETRAIN_SPLIT.validFraction,
    splitSeed: PRETRAIN_SPLIT.seed,
  },
  train: {
    steps: 1000,
    batchSize: 16,
    seqLen: 64,
    evalEvery: 100,
    evalBatches: 8,
    checkpointEvery: 250,
    gradNormEvery: 0,
    maskProb: 0.15,
  },
};

/** Preset shapes. `small` is the default: 12 blocks, all three variants fit well inside an hour on 2 CPU cores. */
export const PRESET_VALUES: Record<PresetName, RunOverrides> = {
  // Seconds per run: for tests, CI and the quick notebooks. 4 blocks keep the schedule visible.
  quick: {
    model: { hidden: 32, heads: 2, intermediate: 64, layers: 4, maxPositions: 32 },
    train: {
      steps: 30,
      batchSize: 8,
      seqLen: 32,
      evalEvery: 10,
      evalBatches: 2,
      checkpointEvery: 10,
      gradNormEvery: 10,
    },
    // Warmup of 10 % instead of 2 %: at 30 steps 2 % would be under one step.
    optim: { warmupFraction: 0.1 },
  },
  // Chosen by the measured search in docs/experiment-design.md (scripts/search.ts; every run in
  // docs/search/runs.jsonl), for the most loss below the unigram line per CPU-minute.
  small: {
    model: {
      // A near-character vocabulary (data/vocab-256.txt, 1.96 characters per token): a masked piece
      // is easy to guess from its neighbours once attention to them has formed. Vocabs
      // of 1024+ stayed within 0.1 nat of their unigram line at this budget; 128 did no better.
      vocabSize: 256,
      // Width 64 × FFN 256, 2 heads: width 128 cost ~3× the CPU per step and was no lower per step early.
      hidden: 64,
      heads: 2,
      intermediate: 256,
      layers: 12, // the paper's depth, which the gradient-norm figure needs
      maxPositions: 64,
      // BERT's σ = 0.02 is sized for width 768; 0.07 ≈ 0.02·√(768/64) keeps the same scale at width 64
      // and left the uniform-attention plateau sooner (0.12 nat lower at step 100 in the search).
      initStd: 0.07,
      // No dropout: a short run is underfitting, not overfitting.
      hiddenDropout: 0,
      attentionDropout: 0,
    },
    data: { vocab: 'data/vocab-256.txt' },
    train: {
      // Every variant sits on the input-copy line (src/train/reference.ts) until attention to
      // neighbours forms; with 6000 steps (and so a slower LR decay) the 12-block PreLN model leaves
      // it near step 2000 and ends 2.3 nats below the unigram line, where a 1500- or 3000-step
      // schedule had not left it (docs/experiment-design.md). Five such runs and fine-tuning fit
      // the figures job's hour on 2 cores.
      steps: 6000,
      // Batch 16 × 64 tokens: batch 64 cost ~3× per step for about the same loss per CPU-second.
      batchSize: 16,
      seqLen: 64,
      evalEvery: 250,
      evalBatches: 8,
      checkpointEvery: 1000,
      gradNormEvery: 250,
      // Predicting 40 % of tokens instead of 15 % gives ~2.7× the training signal per step at
      // nearly the same cost (0.09 nat lower at equal steps); validation still masks 15 %.
      maskProb: 0.4,
    },
    // Warmup 5 %: 2 % of a short run is too few steps for Adam's second moments to settle.
    optim: { warmupFraction: 0.05 },
  },
  // BERT-base shape (paper §5), for GPUs; sequence 128 as in the paper's first phase.
  base: {
    model: { vocabSize: 30522, hidden: 768, heads: 12, intermediate: 3072, layers: 12, maxPositions: 512 },
    data: { vocab: 'data/vocab.txt' },
    train: {
      steps: 100000,
      batchSize: 64,
      seqLen: 128,
      evalEvery: 1000,
      evalBatches: 50,
      checkpointEvery: 1000,
      gradNormEvery: 1000,
    },
  },
};

/**
 * Peak LRs per preset: PreLN and PreLN+PLD at `pre`, PostLN at a tenth of it, the paper's ratio
 * (1e-3 against 1e-4). `small` takes 3e-3: in the search 1e-2 stalled on the unigram line and
 * 1e-3 learned more slowly.
 */
const PEAK_LR: Record<PresetName, { pre: number; post: number }> = {
  quick: { pre: 1e-3, post: 1e-4 },
  small: { pre: 3e-3, post: 3e-4 },
  base: { pre: 1e-3, post: 1e-4 },
};

/**
 * What each variant means. PLD's γ is scaled to the run length: the paper's γ = 0.001 over
 * ~10⁵ steps would leave θ near 1 for a whole short run, so θ(t) reaches within 2 % of θ̄ by
 * the middle of training here (γ = 8 / steps), as it does early in the paper's runs.
 * LRs follow the paper: PreLN and PLD train at the preset's peak LR; PostLN needs a ~10× smaller one.
 */
function variantValues(v: Variant, steps: number, lr: { pre: number; post: number }): RunOverrides {
  switch (v) {
    case 'postln':
      return { model: { norm: 'post' }, schedule: NO_DROP, optim: { lr: lr.post } };
    case 'preln':
      return { model: { norm: 'pre' }, schedule: NO_DROP, optim: { lr: lr.pre } };
    case 'preln-pld':
      return {
        model: { norm: 'pre' },
        schedule: { thetaBar: 0.5, gamma: 8 / steps, depth: 'paper', rescale: true, constantTheta: false },
        optim: { lr: lr.pre },
      };
  }
}

function merge(base: Omit<RunConfig, 'variant' | 'preset'>, o: RunOverrides): Omit<RunConfig, 'variant' | 'preset'> {
  return {
    seed: o.seed ?? base.seed,
    model: { ...base.model, ...o.model },
    schedule: { ...base.schedule, ...o.schedule },
    optim: { ...base.optim, ...o.optim },
    data: { ...base.data, ...o.data },
    train: { ...base.train, ...o.train },
  };
}

export function parseVariant(v: string): Variant {
  if ((VARIANTS as readonly string[]).includes(v)) return v as Variant;
  throw new Error(`unknown variant '${v}'; use one of ${VARIANTS.join(', ')}`);
}

export function parsePreset(p: string): PresetName {
  if ((PRESETS as readonly string[]).includes(p)) return p as PresetName;
  throw new Error(`unknown preset '${p}'; use one of ${PRESETS.join(', ')}`);
}

/** Builds a run config: defaults ← preset ← variant ← user overrides (file, then flags). */
export function resolveConfig(variant: string, preset: string, ...overrides: RunOverrides[]): RunConfig {
  const v = parseVariant(variant);
  const p = parsePreset(preset);
  let cfg = merge(DEFAULTS, PRESET_VALUES[p]);
  // γ depends on the run length, which the user may override.
  const steps = overrides.reduce((s, o) => o.train?.steps ?? s, cfg.train.steps);
  cfg = merge(cfg, variantValues(v, steps, PEAK_LR[p]));
  for (const o of overrides) cfg = merge(cfg, o);
  const full: RunConfig = { variant: v, preset: p, ...cfg };
  validateRunConfig(full);
  return full;
}

export function validateRunConfig(c: RunConfig): void {
  validateModelConfig(c.model);
  validateSchedule(c.schedule, c.model.layers);
  const positive = (k: string, x: number, int: boolean): void => {
    if (typeof x !== 'number' || !(x > 0) || (int && !Number.isInteger(x)))
      throw new Error(`${k} must be a ${int ? 'whole number' : 'number'} > 0, got ${JSON.stringify(x)}`);
  };
  positive('optim.lr', c.optim.lr, false);
  positive('optim.clipNorm', c.optim.clipNorm, false);
  positive('train.steps', c.train.steps, true);
  positive('train.batchSize', c.train.batchSize, true);
  positive('train.seqLen', c.train.seqLen, true);
  positive('train.evalEvery', c.train.evalEvery, true);
  positive('train.evalBatches', c.train.evalBatches, true);
  if (!(c.train.maskProb > 0 && c.train.maskProb < 1))
    throw new Error(`train.maskProb must be in (0, 1), got ${JSON.stringify(c.train.maskProb)}`);
  if (!(c.optim.warmupFraction >= 0 && c.optim.warmupFraction < 1))
    throw new Error(`optim.warmupFraction must be in [0, 1), got ${c.optim.warmupFraction}`);
  if (c.train.seqLen > c.model.maxPositions)
    throw new Error(
      `train.seqLen (${c.train.seqLen}) exceeds model.maxPositions (${c.model.maxPositions}); raise model.maxPositions or lower train.seqLen`,
    );
  if (!Number.isInteger(c.seed)) throw new Error(`seed must be a whole number, got ${JSON.stringify(c.seed)}`);
}

/** The type of every overridable field, from the defaults (the single source of truth). */
const SECTIONS: Record<string, Record<string, unknown>> = {
  model: DEFAULT_MODEL as unknown as Record<string, unknown>,
  schedule: NO_DROP as unknown as Record<string, unknown>,
  optim: DEFAULTS.optim as unknown as Record<string, unknown>,
  data: DEFAULTS.data as unknown as Record<string, unknown>,
  train: DEFAULTS.train as unknown as Record<string, unknown>,
};

function typeName(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  return typeof x;
}

/**
 * Checks a parsed JSON value against the config's shape: every key must exist and have the
 * default's type (`data.folder` may be a string or null). `where` names the source in errors.
 */
export function checkOverrides(raw: unknown, where: string): RunOverrides {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${where}: expected a JSON object with sections model, schedule, optim, data, train`);
  for (const [section, body] of Object.entries(raw as Record<string, unknown>)) {
    if (section === 'seed') {
      if (typeof body !== 'number') throw new Error(`${where}: field 'seed' must be a number, got ${typeName(body)}`);
      continue;
    }
    const shape = SECTIONS[section];
    if (!shape)
      throw new Error(`${where}: unknown section '${section}'; use seed, ${Object.keys(SECTIONS).join(', ')}`);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error(`${where}: section '${section}' must be an object, got ${typeName(body)}`);
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (!(k in shape))
        throw new Error(`${where}: unknown field '${section}.${k}'; known fields: ${Object.keys(shape).join(', ')}`);
      const want = typeName(shape[k]);
      const got = typeName(v);
      const ok = got === want || (section === 'data' && k === 'folder' && (got === 'string' || got === 'null'));
      if (!ok)
        throw new Error(
          `${where}: field '${section}.${k}' must be a ${want === 'null' ? 'string or null' : want}, got ${got}`,
        );
    }
  }
  return raw as RunOverrides;
}

/** Reads and checks a JSON config file; errors name the file and the field. */
export function readConfigFile(path: string): RunOverrides {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`config file ${path} is not valid JSON (${(e as Error).message}); fix the syntax`, { cause: e });
  }
  return checkOverrides(raw, `config file ${path}`);
}
