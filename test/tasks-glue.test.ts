import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'path';
import { GLUE_TASKS, glueDevSets, glueTaskSpec, loadGlueTask, parseGlueTsv, resolveGlueTask } from '../src/tasks/glue';

// Compiled tests live in <outDir>/test/, so the sources' fixtures are two levels up.
const GLUE = path.resolve(__dirname, '../../test/fixtures/glue');
const BAD = path.join(GLUE, 'malformed');

test('all nine tasks load from the official layout with their row counts', () => {
  const expected: Record<string, [number, Record<string, number>]> = {
    CoLA: [10, { dev: 5 }],
    'SST-2': [8, { dev: 5 }],
    MRPC: [6, { dev: 4 }],
    'STS-B': [8, { dev: 6 }],
    QQP: [7, { dev: 4 }],
    MNLI: [7, { dev_matched: 4, dev_mismatched: 3 }],
    QNLI: [6, { dev: 3 }],
    RTE: [5, { dev: 3 }],
    WNLI: [6, { dev: 3 }],
  };
  assert.deepEqual([...GLUE_TASKS], Object.keys(expected));
  for (const name of GLUE_TASKS) {
    const t = loadGlueTask(GLUE, name);
    const [nTrain, nDev] = expected[name];
    assert.equal(t.train.length, nTrain, name);
    assert.deepEqual(Object.fromEntries(Object.entries(t.dev).map(([k, v]) => [k, v.length])), nDev, name);
    assert.deepEqual(Object.keys(t.baseline), Object.keys(nDev), name);
    assert.deepEqual(glueDevSets(name), Object.keys(nDev));
    for (const ex of [...t.train, ...Object.values(t.dev).flat()]) {
      assert.equal(ex.textB !== undefined, t.spec.pair, `${name} pair`);
      if (t.spec.kind === 'classification')
        assert.ok(Number.isInteger(ex.label) && ex.label >= 0 && ex.label < t.spec.numLabels);
    }
  }
});

test('columns and label indices match the run_glue processors', () => {
  const cola = loadGlueTask(GLUE, 'cola');
  assert.deepEqual(cola.train[2], { textA: 'They drank the pub.', label: 0 });
  assert.deepEqual(cola.spec.metrics, ['mcc']);
  const mrpc = loadGlueTask(GLUE, 'MRPC');
  assert.equal(
    mrpc.train[0].textA,
    'Amrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .',
  );
  assert.equal(mrpc.train[0].label, 1);
  assert.equal(mrpc.train[1].label, 0);
  assert.deepEqual(mrpc.spec.metrics, ['f1', 'accuracy']);
  const sts = loadGlueTask(GLUE, 'sts-b');
  assert.deepEqual(sts.train[1], {
    textA: 'A man is playing a large flute.',
    textB: 'A man is playing a flute.',
    label: 3.8,
  });
  assert.equal(sts.spec.kind, 'regression');
  assert.equal(sts.spec.numLabels, 1);
  assert.deepEqual(sts.spec.metrics, ['pearson', 'spearman']);
  const mnli = loadGlueTask(GLUE, 'mnli');
  assert.deepEqual(mnli.spec.labelNames, ['contradiction', 'entailment', 'neutral']);
  // sentence1/sentence2 (columns 9, 10), not the parse columns; gold_label is the last column in train (12) and dev (16).
  assert.deepEqual(mnli.train[5], {
    textA: 'The man said "wait here" and walked off.',
    textB: 'The man stayed with us the whole time.',
    label: 0,
  });
  assert.deepEqual(
    mnli.dev.dev_matched.map((e) => e.label),
    [2, 0, 1, 0],
  );
  assert.deepEqual(
    mnli.dev.dev_mismatched.map((e) => e.label),
    [0, 0, 2],
  );
  const qnli = loadGlueTask(GLUE, 'QNLI');
  assert.deepEqual(qnli.spec.labelNames, ['entailment', 'not_entailment']);
  assert.deepEqual(
    qnli.train.map((e) => e.label),
    [1, 1, 0, 0, 0, 1],
  );
  assert.equal(qnli.train[0].textA, 'When did the third Digimon series begin?');
  assert.deepEqual(
    loadGlueTask(GLUE, 'rte').train.map((e) => e.label),
    [1, 0, 0, 1, 0],
  );
  assert.deepEqual(
    loadGlueTask(GLUE, 'wnli').dev.dev.map((e) => e.label),
    [0, 1, 0],
  );
  const qqp = loadGlueTask(GLUE, 'qqp');
  assert.deepEqual(qqp.train[0].textB, 'Which level of prepration is enough for the exam jlpt5?');
});

test('quotes are literal characters (csv.QUOTE_NONE), not field delimiters', () => {
  const sst = loadGlueTask(GLUE, 'SST-2');
  assert.equal(sst.train[5].textA, 'a "so bad it\'s good" experience that is , well , good ');
  assert.equal(sst.train[5].label, 1);
  assert.equal(loadGlueTask(GLUE, 'CoLA').train[5].textA, 'She said "hello" to the man at the door.');
  assert.equal(loadGlueTask(GLUE, 'QNLI').dev.dev[2].textB, 'Such a task is called "undecidable".');
  // A field that starts with a quote would swallow the tab under QUOTE_MINIMAL; here it must not.
  const parsed = parseGlueTsv('SST-2', 'sentence\tlabel\n"quoted start\t1\nplain " end\t0\n', 'mem.tsv');
  assert.deepEqual(parsed.examples, [
    { textA: '"quoted start', label: 1 },
    { textA: 'plain " end', label: 0 },
  ]);
});

test('QQP rows with missing fields are skipped and counted, as run_glue does', () => {
  const qqp = loadGlueTask(GLUE, 'QQP');
  assert.deepEqual(qqp.skippedRows, { 'train.tsv': 2, 'dev.tsv': 1 });
  assert.ok(qqp.notes.some((n) => /train\.tsv: skipped 2 rows/.test(n)));
  assert.ok(!qqp.train.some((e) => e.textA.startsWith('Why do rockets')));
  assert.deepEqual(loadGlueTask(GLUE, 'CoLA').skippedRows, {});
});

test('task names are case-insensitive with optional hyphen; unknown names list the valid ones', () => {
  for (const [alias, canon] of [
    ['cola', 'CoLA'],
    ['sst2', 'SST-2'],
    ['sst-2', 'SST-2'],
    ['STSB', 'STS-B'],
    ['sts-b', 'STS-B'],
    ['Mnli', 'MNLI'],
    ['wnli', 'WNLI'],
  ]) {
    assert.equal(resolveGlueTask(alias), canon);
  }
  assert.equal(glueTaskSpec('qqp').name, 'QQP');
  assert.throws(() => loadGlueTask(GLUE, 'squad'), {
    message:
      "unknown GLUE task 'squad'; valid names are CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI (case-insensitive, hyphen optional)",
  });
});

test('missing directory or file errors name the path and the official download script', () => {
  assert.throws(
    () => loadGlueTask(path.join(GLUE, 'nowhere'), 'rte'),
    (e: Error) =>
      e.message.includes(path.join(GLUE, 'nowhere', 'RTE')) &&
      /not found; download GLUE with its official script/.test(e.message) &&
      !e.message.includes('\n'),
  );
  assert.throws(
    () => loadGlueTask(BAD, 'MRPC'),
    (e: Error) => e.message.startsWith(`GLUE file ${path.join(BAD, 'MRPC', 'dev.tsv')} not found; download GLUE`),
  );
});

test('malformed rows: file, 1-based line, expected vs got, or the bad label', () => {
  const cola = path.join(BAD, 'CoLA', 'train.tsv');
  assert.throws(() => loadGlueTask(BAD, 'cola'), {
    message: `${cola} line 3: expected 4 tab-separated fields, got 3; this file must be the official GLUE CoLA TSV`,
  });
  assert.throws(() => loadGlueTask(BAD, 'rte'), {
    message: `${path.join(BAD, 'RTE', 'train.tsv')} line 3: label 'contradiction' is not one of entailment, not_entailment; this file must be the official GLUE RTE TSV`,
  });
  assert.throws(
    () => loadGlueTask(BAD, 'stsb'),
    /STS-B[\\/]train\.tsv line 2: score '7\.5' is not a number in \[0, 5\]/,
  );
  assert.throws(
    () => loadGlueTask(BAD, 'sst2'),
    /SST-2[\\/]train\.tsv line 1: expected header column 1 to be 'sentence', got 'text'/,
  );
  // A header row in a header-less CoLA file is caught by the field count (CoLA's test.tsv has 2 columns).
  assert.throws(
    () => parseGlueTsv('cola', 'index\tsentence\n', 'x.tsv'),
    /x\.tsv line 1: expected 4 tab-separated fields, got 2/,
  );
});

test('CRLF line ends and a BOM are tolerated; a trailing newline is not a row', () => {
  const p = parseGlueTsv('RTE', '\uFEFFindex\tsentence1\tsentence2\tlabel\r\n0\ta\tb\tentailment\r\n', 'crlf.tsv');
  assert.deepEqual(p.examples, [{ textA: 'a', textB: 'b', label: 0 }]);
});

test('maxTrain/maxDev subsample deterministically, in file order', () => {
  const a = loadGlueTask(GLUE, 'CoLA', { maxTrain: 4, maxDev: 2 });
  const b = loadGlueTask(GLUE, 'CoLA', { maxTrain: 4, maxDev: 2 });
  const full = loadGlueTask(GLUE, 'CoLA');
  assert.equal(a.train.length, 4);
  assert.equal(a.dev.dev.length, 2);
  assert.deepEqual(a, b);
  const idx = a.train.map((e) => full.train.findIndex((f) => f.textA === e.textA));
  assert.ok(idx.every((i) => i >= 0));
  assert.deepEqual(
    idx,
    [...idx].sort((x, y) => x - y),
  );
  const other = [1, 2, 3, 4, 5].map((seed) =>
    loadGlueTask(GLUE, 'CoLA', { maxTrain: 4, seed })
      .train.map((e) => e.textA)
      .join('|'),
  );
  assert.ok(new Set(other).size > 1, 'different seeds give different subsamples');
  assert.equal(loadGlueTask(GLUE, 'CoLA', { maxTrain: 100 }).train.length, 10);
  assert.throws(() => loadGlueTask(GLUE, 'CoLA', { maxDev: 0 }), {
    message: 'maxTrain/maxDev must be a positive integer, got 0',
  });
});

test('baselines: majority class from train, scored with the task metrics', () => {
  // CoLA train labels: six 1s, four 0s → predicts 1; dev [1,1,0,1,0]: MCC of a constant predictor = 0.
  const cola = loadGlueTask(GLUE, 'CoLA');
  assert.equal(cola.baseline.dev.prediction, 1);
  assert.deepEqual(cola.baseline.dev.metrics, { mcc: 0 });
  // SST-2 train: four 0s and four 1s → tie → class 0; dev labels [1,0,1,1,0] → 2/5 = 40.
  const sst = loadGlueTask(GLUE, 'SST-2');
  assert.equal(sst.baseline.dev.prediction, 0);
  assert.equal(sst.baseline.dev.score, 40);
  // MRPC train: 1,0,1,0,1,1 → 1; dev [1,0,0,1]: accuracy 50, F1 = 2·2/(2·2+2+0) = 66.67.
  const mrpc = loadGlueTask(GLUE, 'MRPC');
  assert.equal(mrpc.baseline.dev.metrics.accuracy, 50);
  assert.ok(Math.abs((mrpc.baseline.dev.metrics.f1 ?? 0) - 400 / 6) < 1e-9);
  // STS-B: mean predictor; correlations 0 and the MSE reported.
  const sts = loadGlueTask(GLUE, 'STS-B');
  assert.equal(sts.baseline.dev.predictor, 'mean');
  assert.equal(sts.baseline.dev.score, 0);
  assert.ok((sts.baseline.dev.mse ?? 0) > 0);
});
