/**
 * WordPiece tokenization compatible with BERT's uncased tokenizer (google-research/bert
 * `tokenization.py`: BasicTokenizer then WordpieceTokenizer). A real BERT `vocab.txt` loads
 * unchanged: one token per line, the id is the line number.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../util/atomic';

/** The five tokens every BERT vocabulary has; the kit's own vocabularies put them at ids 0–4. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/** BERT's `_is_punctuation`: ASCII symbol ranges plus every Unicode punctuation category. */
function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0) as number;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return /\p{P}/u.test(ch);
}

/** BERT's `_is_chinese_char`: the CJK Unified Ideographs blocks. */
function isCjk(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/**
 * BasicTokenizer (do_lower_case=True): drop NUL, U+FFFD and control characters, map whitespace to
 * spaces, space out CJK ideographs, lower-case, strip accents (NFD, drop combining marks), split
 * off punctuation.
 */
export function basicTokenize(text: string): string[] {
  let clean = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0 || cp === 0xfffd) continue;
    if (/\s/.test(ch)) clean += ' ';
    else if (/\p{Cc}|\p{Cf}/u.test(ch)) continue;
    else if (isCjk(cp)) clean += ` ${ch} `;
    else clean += ch;
  }
  const out: string[] = [];
  for (const word of clean.split(' ')) {
    if (!word) continue;
    const lowered = word
      .toLowerCase()
      .normalize('NFD')
      .replace(/\p{Mn}/gu, '');
    let cur = '';
    for (const ch of lowered) {
      if (isPunctuation(ch)) {
        if (cur) out.push(cur);
        out.push(ch);
        cur = '';
      } else cur += ch;
    }
    if (cur) out.push(cur);
  }
  return out;
}

export class WordPieceTokenizer {
  private readonly ids = new Map<string, number>();
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  /** Ids never masked or predicted: the five specials and any `[unusedN]` slots. */
  readonly specialIds: Set<number>;

  private constructor(
    readonly tokens: readonly string[],
    source: string,
  ) {
    tokens.forEach((t, i) => {
      if (t === '')
        throw new Error(`vocab ${source} line ${i + 1}: empty token; a BERT vocab.txt has one token per line`);
      if (this.ids.has(t))
        throw new Error(
          `vocab ${source} line ${i + 1}: duplicate token '${t}' (first on line ${(this.ids.get(t) as number) + 1}); each token must appear once`,
        );
      this.ids.set(t, i);
    });
    const need = (t: string): number => {
      const id = this.ids.get(t);
      if (id === undefined)
        throw new Error(`vocab ${source} has no ${t} token; a BERT vocab.txt must contain ${SPECIAL_TOKENS.join(' ')}`);
      return id;
    };
    [this.padId, this.unkId, this.clsId, this.sepId, this.maskId] = SPECIAL_TOKENS.map(need);
    this.specialIds = new Set(tokens.flatMap((t, i) => (/^\[[A-Za-z0-9_]+\]$/.test(t) ? [i] : [])));
  }

  static fromTokens(tokens: string[], source = '(in memory)'): WordPieceTokenizer {
    return new WordPieceTokenizer(tokens, source);
  }

  static fromVocabFile(file: string): WordPieceTokenizer {
    let raw: Buffer;
    try {
      raw = fs.readFileSync(file);
    } catch (e) {
      throw new Error(
        `cannot read vocab ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}; pass a BERT-format vocab.txt`,
        { cause: e },
      );
    }
    if (raw.length === 0) throw new Error(`vocab ${file} is empty; a BERT vocab.txt has one token per line`);
    if (raw.includes(0))
      throw new Error(`vocab ${file} is a binary file; a BERT vocab.txt is UTF-8 text with one token per line`);
    const text = raw.toString('utf8');
    if (/^\s*[[{]/.test(text) && !text.startsWith('[PAD]')) {
      throw new Error(
        `vocab ${file} looks like JSON; a BERT vocab.txt has one token per line (convert a tokenizer.json's vocab to that format)`,
      );
    }
    const lines = text.split(/\r?\n/);
    if (lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines, file);
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  idOf(token: string): number {
    return this.ids.get(token) ?? this.unkId;
  }

  tokenOf(id: number): string {
    return this.tokens[id] ?? '[UNK]';
  }

  /** Greedy longest-match-first WordPiece of one basic token (BERT's WordpieceTokenizer). */
  wordPieces(word: string, maxChars = 100): string[] {
    const chars = [...word];
    if (chars.length > maxChars) return ['[UNK]'];
    const out: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let piece: string | null = null;
      while (start < end) {
        const sub = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.ids.has(sub)) {
          piece = sub;
          break;
        }
        end--;
      }
      if (piece === null) return ['[UNK]'];
      out.push(piece);
      start = end;
    }
    return out;
  }

  tokenize(text: string): string[] {
    return basicTokenize(text).flatMap((w) => this.wordPieces(w));
  }

  /** Token ids without [CLS]/[SEP]. */
  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.idOf(t));
  }

  /** Ids back to text: `##` pieces join their word; specials are dropped. */
  decode(ids: number[]): string {
    return ids
      .filter((i) => !this.specialIds.has(i) || i === this.unkId)
      .map((i) => this.tokenOf(i))
      .join(' ')
      .replace(/ ##/g, '');
  }
}

/** Writes a vocabulary in BERT's format (one token per line), atomically. */
export function saveVocab(file: string, tokens: readonly string[]): void {
  writeFileAtomic(file, tokens.join('\n') + '\n');
}
