/** util/: statistics against numpy's values, the Markdown table builder, number parsing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iqr, mean, median, quantile, std } from '../src/util/stats';
import { markdownCell, renderMarkdownTable } from '../src/util/tables';
import { parseNumber, parseWholeNumber } from '../src/util/parse';
import { close } from './helpers';

test('mean, sample std, median, quantiles and IQR match numpy', () => {
  assert.equal(mean([1, 2, 3, 4]), 2.5);
  // np.std([2, 4, 4, 4, 5, 5, 7, 9], ddof=1) = sqrt(32 / 7)
  close(std([2, 4, 4, 4, 5, 5, 7, 9]), 2.138089935299395, 1e-15);
  assert.equal(std([3]), 0);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  // np.quantile([1, 2, 3, 4], [0, 0.25, 0.5, 0.75, 1]) = [1, 1.75, 2.5, 3.25, 4]
  assert.deepEqual(
    [0, 0.25, 0.5, 0.75, 1].map((q) => quantile([4, 1, 3, 2], q)),
    [1, 1.75, 2.5, 3.25, 4],
  );
  assert.equal(iqr([1, 2, 3, 4]), 1.5);
  assert.equal(iqr([7, 1, 3, 5, 9]), 4);
  assert.ok(Number.isNaN(mean([])) && Number.isNaN(median([])) && Number.isNaN(iqr([])));
  assert.throws(() => quantile([1], 1.5), /^Error: quantile: q must be in \[0, 1\], got 1.5$/);
});

test('one Markdown table builder: header, alignment rule, rows; cells escaped on request', () => {
  assert.equal(
    renderMarkdownTable(
      ['a', 'b'],
      [
        ['x', '1'],
        ['', '2'],
      ],
      ['left', 'right'],
    ),
    '| a | b |\n|---|---:|\n| x | 1 |\n|  | 2 |',
  );
  assert.equal(renderMarkdownTable(['a'], []), '| a |\n|---|');
  assert.equal(markdownCell('a|b\nc'), 'a\\|b c');
});

test('numbers from text: one wording for every flag and environment variable', () => {
  assert.equal(parseWholeNumber('3', '--threads'), 3);
  for (const bad of ['0', '-1', '1.5', 'two', '', ' '])
    assert.throws(() => parseWholeNumber(bad, '--threads'), {
      message: `--threads must be a whole number >= 1, got '${bad}'`,
    });
  assert.equal(parseNumber('1e-3', '--lr'), 1e-3);
  assert.throws(() => parseNumber('fast', '--lr'), { message: "--lr must be a number, got 'fast'" });
});
