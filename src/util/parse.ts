/** Numbers from text (flags, environment variables), with one error wording everywhere. */

/** A finite number, or `<what> must be a number, got '<text>'`. */
export function parseNumber(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new Error(`${what} must be a number, got '${text}'`);
  return n;
}

/** A whole number >= 1, or `<what> must be a whole number >= 1, got '<text>'`. */
export function parseWholeNumber(text: string, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 1)
    throw new Error(`${what} must be a whole number >= 1, got '${text}'`);
  return n;
}
