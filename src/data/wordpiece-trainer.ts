/**
 * Builds a WordPiece vocabulary from text, the way Hugging Face tokenizers' WordPieceTrainer does:
 * byte-pair-encoding merges chosen by pair frequency over word counts, with every non-initial
 * piece written with the `##` continuation prefix. Output order: the five specials (ids 0–4),
 * the single characters, then the merges in the order they were learned.
 */
import { SPECIAL_TOKENS, basicTokenize } from './tokenizer';

export interface WordPieceTrainOptions {
  vocabSize: number;
  /** Words seen fewer times than this are ignored (their characters still enter the alphabet). */
  minFrequency?: number;
}

/** A max-heap of (count, pair) with lazy deletion: stale entries are skipped when popped. */
class PairHeap {
  private items: [number, string][] = [];
  push(count: number, key: string): void {
    const a = this.items;
    a.push([count, key]);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p][0] > a[i][0] || (a[p][0] === a[i][0] && a[p][1] <= a[i][1])) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop() as [number, string];
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const better = (x: number, y: number): boolean =>
          a[x][0] > a[y][0] || (a[x][0] === a[y][0] && a[x][1] < a[y][1]);
        if (l < a.length && better(l, m)) m = l;
        if (r < a.length && better(r, m)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

const SEP = '\u0001';

export function trainWordPiece(texts: Iterable<string>, o: WordPieceTrainOptions): string[] {
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of basicTokenize(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const alphabet = new Set<string>();
  const words: { syms: string[]; n: number }[] = [];
  for (const [w, n] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const chars = [...w];
    chars.forEach((c, i) => alphabet.add(i === 0 ? c : '##' + c));
    if (n >= (o.minFrequency ?? 1)) words.push({ syms: chars.map((c, i) => (i === 0 ? c : '##' + c)), n });
  }
  const vocab: string[] = [...SPECIAL_TOKENS, ...[...alphabet].sort()];
  if (vocab.length >= o.vocabSize) return vocab.slice(0, o.vocabSize);

  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (wi: number, sign: 1 | -1): void => {
    const { syms, n } = words[wi];
    for (let i = 0; i + 1 < syms.length; i++) {
      const k = syms[i] + SEP + syms[i + 1];
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * n);
      if (sign > 0) {
        let s = pairWords.get(k);
        if (!s) pairWords.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  words.forEach((_, wi) => addPairs(wi, 1));
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);
  const known = new Set(vocab);
  while (vocab.length < o.vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const [c, key] = top;
    if (pairCount.get(key) !== c || c <= 0) continue; // stale heap entry
    const [a, b] = key.split(SEP);
    const merged = a + b.slice(2);
    if (!known.has(merged)) {
      known.add(merged);
      vocab.push(merged);
    }
    const touched = new Map<string, number>();
    for (const wi of pairWords.get(key) ?? []) {
      const w = words[wi];
      // Every pair whose count changes gets a fresh heap entry (old ones go stale).
      for (let i = 0; i + 1 < w.syms.length; i++) touched.set(w.syms[i] + SEP + w.syms[i + 1], 0);
      addPairs(wi, -1);
      const next: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(w.syms[i]);
      }
      w.syms = next;
      addPairs(wi, 1);
      for (let i = 0; i + 1 < next.length; i++) touched.set(next[i] + SEP + next[i + 1], 0);
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const k of touched.keys())
      if (k !== key && (pairCount.get(k) ?? 0) > 0) heap.push(pairCount.get(k) as number, k);
  }
  return vocab;
}
