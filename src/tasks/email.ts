/**
 * Plain text of an e-mail body, for the offline `spam` task: headers dropped, MIME parts walked
 * (text/plain preferred over text/html, attachments ignored), quoted-printable and base64 decoded,
 * HTML reduced to its text. Without this the task would be solved by header and markup artefacts
 * (received-from hosts, `<FONT color=3D…>`) instead of by what the message says.
 */

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Split at the first blank line; header names lower-cased, folded continuation lines joined. */
export function splitHeaders(raw: string): Part {
  const text = raw.replace(/\r\n/g, '\n');
  const blank = text.search(/\n\n/);
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? '' : text.slice(blank + 2);
  const headers = new Map<string, string>();
  let last = '';
  for (const line of head.split('\n')) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
    if (m) {
      last = m[1].toLowerCase();
      headers.set(last, m[2]);
    }
  }
  return { headers, body };
}

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function decodeBase64(s: string): string {
  return Buffer.from(s.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
}

const ENTITIES: Record<string, string> = {
  nbsp: ' ',
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  copy: '(c)',
  reg: '(R)',
};

/** Text content of an HTML fragment: scripts, styles and comments removed, block tags become spaces. */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style|head|title)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/** Decoded text of one part: { text, html } so the caller can prefer plain text. */
function partText(part: Part, depth: number): { plain: string[]; html: string[] } {
  const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
  const out = { plain: [] as string[], html: [] as string[] };
  if (type.startsWith('multipart/')) {
    const b = /boundary\s*=\s*"?([^";]+)"?/i.exec(part.headers.get('content-type') ?? '');
    if (!b || depth > 5) return out;
    const delim = `--${b[1].trim()}`;
    const chunks = part.body.split(delim).slice(1); // before the first delimiter is the preamble
    for (const chunk of chunks) {
      if (chunk.startsWith('--')) break; // closing delimiter
      const sub = partText(splitHeaders(chunk.replace(/^[ \t]*\n/, '')), depth + 1);
      out.plain.push(...sub.plain);
      out.html.push(...sub.html);
    }
    return out;
  }
  if (!type.startsWith('text/')) return out; // attachments, images
  const enc = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase().trim();
  const body =
    enc === 'base64'
      ? decodeBase64(part.body)
      : enc === 'quoted-printable'
        ? decodeQuotedPrintable(part.body)
        : part.body;
  (type.startsWith('text/html') ? out.html : out.plain).push(body);
  return out;
}

/** Readable body text, whitespace collapsed. HTML-only messages are reduced to their text. */
export function emailBodyText(raw: string): string {
  const { plain, html } = partText(splitHeaders(raw), 0);
  let text = plain.join('\n');
  // Some "text/plain" spam is really HTML; reduce it too.
  if (plain.length === 0 || /<(html|body|br|p|font|div|table)\b/i.test(text))
    text = htmlToText(plain.length > 0 ? text : html.join('\n'));
  return text
    .replace(/\uFFFD/g, '') // the corpus's undecodable bytes (mostly cp1252 quotes); keep no spam-only artefact
    .replace(/([-=*_~#.+<>|])\1{3,}/g, ' ') // ruler lines: ==========, *********
    .replace(/\s+/g, ' ')
    .trim();
}

/** At most `maxChars`, cut at a word boundary so no example ends in half a word. */
export function truncateAtWord(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.lastIndexOf(' ', maxChars);
  return text.slice(0, cut > maxChars / 2 ? cut : maxChars);
}
