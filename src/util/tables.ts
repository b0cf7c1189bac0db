/** Markdown tables: the one builder behind the fine-tuning, benchmark and notebook tables. */

/** Column alignment: text left, numbers right. */
export type Align = 'left' | 'right';

/**
 * A Markdown table: the header row, a rule (`---` for left, `---:` for right-aligned columns),
 * then one line per row. Cells are written as given; escape free text with `markdownCell`.
 */
export function renderMarkdownTable(header: string[], rows: string[][], align: Align[] = []): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const rule = `|${header.map((_, i) => (align[i] === 'right' ? '---:' : '---')).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Free text as one Markdown cell: pipes escaped, newlines as spaces. */
export function markdownCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
