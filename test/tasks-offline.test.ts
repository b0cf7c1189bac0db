import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantBaseline } from '../src/tasks/metrics';
import { Rng } from '../src/util/rng';
import { loadBrown, loadSotu } from '../src/data/corpus';
import { emailBodyText, truncateAtWord } from '../src/tasks/email';
import {
  OFFLINE_TASKS,
  corruptWordOrder,
  fineTuningDocuments,
  labelToYear,
  loadOfflineSuite,
  loadOfflineTask,
  passages,
  pretrainingValidationIds,
  yearToLabel,
} from '../src/tasks/offline';
import { Example, TaskData } from '../src/tasks/types';
import { PRESETS, resolveConfig } from '../src/train/config';
import { splitPretrainCorpus } from '../src/train/pretrain-data';

const texts = (xs: Example[]): string[] => xs.flatMap((e) => (e.textB === undefined ? [e.textA] : [e.textA, e.textB]));
const frac = (xs: Example[], c: number): number => xs.filter((e) => e.label === c).length / xs.length;

// One default load shared by the tests below.
const suite: Record<string, TaskData> = loadOfflineSuite();

test('the whole suite loads with the default sizes', () => {
  assert.deepEqual(Object.keys(suite), [...OFFLINE_TASKS]);
  for (const [name, t] of Object.entries(suite)) {
    assert.equal(t.train.length, 2000, name);
    assert.equal(t.dev.dev.length, 500, name);
    assert.equal(t.spec.name, name);
    for (const e of [...t.train, ...t.dev.dev]) {
      assert.equal(e.textB !== undefined, t.spec.pair, name);
      assert.ok(e.textA.length > 0 && (e.textB === undefined || e.textB.length > 0));
    }
  }
});

test('maxTrain/maxDev bound the sizes', () => {
  for (const name of OFFLINE_TASKS) {
    const t = loadOfflineTask(name, { maxTrain: 60, maxDev: 20 });
    assert.equal(t.train.length, 60, name);
    assert.equal(t.dev.dev.length, 20, name);
  }
  assert.throws(() => loadOfflineTask('spam', { maxTrain: 0 }), /spam: maxTrain must be an integer ≥ 2, got 0/);
});

test('label balance is sane for every task', () => {
  const { spam, genre, adjacent, acceptability } = suite;
  const sotu = suite['sotu-year'];
  for (const split of [spam.train, spam.dev.dev])
    assert.ok(frac(split, 1) > 0.15 && frac(split, 1) < 0.4, `spam fraction ${frac(split, 1)}`);
  for (const split of [genre.train, genre.dev.dev])
    for (let c = 0; c < 4; c++)
      assert.ok(frac(split, c) > 0.1 && frac(split, c) < 0.45, `genre ${c}: ${frac(split, c)}`);
  assert.equal(frac(adjacent.train, 1), 0.5);
  assert.ok(Math.abs(frac(adjacent.dev.dev, 1) - 0.5) < 0.05);
  assert.equal(frac(acceptability.train, 1), 0.5);
  assert.equal(frac(acceptability.dev.dev, 1), 0.5);
  const ys = sotu.train.map((e) => e.label);
  assert.ok(Math.min(...ys) >= 0 && Math.max(...ys) <= 5);
  const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
  assert.ok(Math.sqrt(ys.reduce((a, y) => a + (y - mean) ** 2, 0) / ys.length) > 0.8, 'years spread over the range');
});

test('deterministic for a seed; the seed changes train only, dev is fixed', () => {
  for (const name of OFFLINE_TASKS) {
    const a = loadOfflineTask(name, { maxTrain: 50, maxDev: 30 });
    const b = loadOfflineTask(name, { maxTrain: 50, maxDev: 30 });
    const c = loadOfflineTask(name, { maxTrain: 50, maxDev: 30, seed: 7 });
    const d = loadOfflineTask(name, { maxTrain: 80, maxDev: 30, seed: 3 });
    assert.deepEqual(a, b, name);
    assert.notDeepEqual(a.train, c.train, name);
    assert.deepEqual(a.dev, c.dev, name);
    assert.deepEqual(a.dev, d.dev, name);
  }
});

test('train and dev never share a text', () => {
  for (const [name, t] of Object.entries(suite)) {
    const train = new Set(texts(t.train));
    const shared = texts(t.dev.dev).filter((s) => train.has(s));
    assert.deepEqual(shared, [], name);
  }
  // acceptability: both copies of a sentence are on the same side (the corrupted copy follows its original in dev)
  const dev = suite.acceptability.dev.dev;
  for (let i = 0; i < dev.length; i += 2) {
    assert.equal(dev[i].label, 1);
    assert.equal(dev[i + 1].label, 0);
    assert.deepEqual(dev[i].textA.split(' ').sort(), dev[i + 1].textA.split(' ').sort());
  }
  const trainOriginals = new Set(
    suite.acceptability.train.filter((e) => e.label === 1).map((e) => e.textA.split(' ').sort().join(' ')),
  );
  for (const e of dev.filter((x) => x.label === 0)) assert.ok(!trainOriginals.has(e.textA.split(' ').sort().join(' ')));
});

test('no offline task uses a document that any preset validates pretraining on', () => {
  for (const preset of PRESETS) {
    const { valid } = splitPretrainCorpus(resolveConfig('preln', preset).data);
    assert.ok(valid.length > 15, `${preset}: ${valid.length} validation documents`);
    const validIds = new Set(valid.map((d) => d.id));
    for (const [name, t] of Object.entries(suite)) {
      for (const e of [...t.train, ...t.dev.dev])
        for (const id of e.origin ?? [])
          assert.ok(!validIds.has(id), `${name} uses ${id}, a ${preset} pretraining validation document`);
    }
  }
});

test('no example uses a document of the pretraining validation split', () => {
  const held = pretrainingValidationIds();
  const all = [...loadBrown(), ...loadSotu()];
  // The split is about 5% of the 733 documents; a broken split (empty, or everything) would make this test vacuous.
  assert.ok(held.size > 15 && held.size < 80, `${held.size} held-out documents`);
  const { brown, sotu } = fineTuningDocuments();
  assert.equal(brown.length + sotu.length + held.size, all.length);
  for (const [name, t] of Object.entries(suite)) {
    for (const e of [...t.train, ...t.dev.dev]) {
      assert.ok(e.origin && e.origin.length > 0, `${name} example without origin`);
      for (const id of e.origin) assert.ok(!held.has(id), `${name} uses held-out ${id}`);
    }
  }
  // And by text: sentences that occur only in held-out documents never appear.
  const usable = new Set([...brown, ...sotu].flatMap((d) => d.sentences));
  const heldOnly = all
    .filter((d) => held.has(d.id))
    .flatMap((d) => d.sentences)
    .filter((s) => !usable.has(s) && s.split(' ').length >= 8);
  assert.ok(heldOnly.length > 1000);
  const heldSet = new Set(heldOnly);
  for (const name of ['adjacent', 'acceptability'])
    for (const s of texts([...suite[name].train, ...suite[name].dev.dev])) assert.ok(!heldSet.has(s), `${name}: ${s}`);
  // Passages are runs of whole sentences: check a sample by substring.
  const sample = [...suite.genre.train.slice(0, 60), ...suite['sotu-year'].dev.dev.slice(0, 60)].map((e) => e.textA);
  for (const p of sample)
    for (const s of heldOnly) assert.ok(!p.includes(s), `passage contains held-out sentence: ${s}`);
});

test('baselines are the best constant class / mean predictor scored with the metrics code', () => {
  // Recomputed by hand from the labels on a small load. Spam is scored by (F1 + accuracy)/2: on
  // training labels with a spam fraction p, "always ham" scores (0 + 100(1 − p))/2 and "always
  // spam" (100·2p/(1 + p) + 100p)/2.
  const spam = loadOfflineTask('spam', { maxTrain: 40, maxDev: 20 });
  const p = spam.train.filter((e) => e.label === 1).length / 40;
  const best = (100 * (2 * p)) / (1 + p) + 100 * p > 100 * (1 - p) ? 1 : 0;
  assert.equal(best, 0, `spam is a quarter of the messages (${p}): always "ham" is the better constant`);
  assert.equal(spam.baseline.dev.prediction, best);
  assert.equal(spam.baseline.dev.predictor, 'majority');
  const hits = spam.dev.dev.filter((e) => e.label === best).length;
  assert.equal(spam.baseline.dev.metrics.accuracy, (100 * hits) / 20);
  assert.equal(spam.baseline.dev.metrics.f1, 0); // always ham: no positive predictions
  assert.equal(spam.baseline.dev.score, ((100 * hits) / 20 + 0) / 2);
  const sotu = loadOfflineTask('sotu-year', { maxTrain: 30, maxDev: 10 });
  const mean = sotu.train.reduce((a, e) => a + e.label, 0) / 30;
  assert.ok(Math.abs(sotu.baseline.dev.prediction - mean) < 1e-12);
  const mse = sotu.dev.dev.reduce((a, e) => a + (e.label - mean) ** 2, 0) / 10;
  assert.ok(Math.abs((sotu.baseline.dev.mse ?? NaN) - mse) < 1e-12);
  assert.deepEqual(sotu.baseline.dev.metrics, { pearson: 0, spearman: 0 });
  for (const t of Object.values(suite)) {
    assert.deepEqual(
      t.baseline.dev,
      constantBaseline(
        t.spec,
        t.train.map((e) => e.label),
        t.dev.dev.map((e) => e.label),
      ),
    );
  }
  // Balanced binary tasks: a constant is right half the time. Adjacency is scored by F1 and
  // accuracy, so "always adjacent" (F1 66.7) is its baseline, not the tie-broken majority (F1 0);
  // acceptability's MCC is 0 for any constant.
  assert.equal(suite.adjacent.baseline.dev.prediction, 1);
  assert.equal(suite.adjacent.baseline.dev.metrics.accuracy, 50);
  assert.ok(Math.abs(suite.adjacent.baseline.dev.score - (200 / 3 + 50) / 2) < 1e-9);
  assert.equal(suite.acceptability.baseline.dev.metrics.mcc, 0);
});

test('unknown task name lists the valid ones', () => {
  assert.throws(() => loadOfflineTask('sentiment'), {
    message: "unknown offline task 'sentiment'; valid names are spam, genre, sotu-year, adjacent, acceptability",
  });
  assert.equal(loadOfflineTask('SOTU_YEAR', { maxTrain: 4, maxDev: 4 }).spec.name, 'sotu-year');
});

test('word-order corruption shuffles the interior and keeps the words, the first word and the last word', () => {
  const rng = new Rng(1);
  const s = 'The committee met on Tuesday to discuss the new budget proposal.';
  const where = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const c = corruptWordOrder(s, rng);
    assert.ok(c !== null && c !== s);
    const w = c.split(' ');
    assert.equal(w[0], 'The');
    assert.equal(w[w.length - 1], 'proposal.');
    assert.deepEqual([...w].sort(), s.split(' ').sort());
    where.add(w.indexOf('committee'));
  }
  // The second word lands anywhere in the interior, not only next to where it was.
  assert.equal(where.size, 9);
  assert.equal(corruptWordOrder('Too short.', rng), null);
  assert.equal(corruptWordOrder('A b b b z.', rng), null); // nothing movable differs
});

test('passages are runs of sentences within the word bounds; year labels map 1790→0, 2021→5', () => {
  const doc = loadBrown()[0];
  for (const p of passages(doc)) {
    const n = p.split(' ').length;
    assert.ok(n >= 40 && n <= 80, `${n} words`);
  }
  assert.equal(yearToLabel(1790), 0);
  assert.equal(yearToLabel(2021), 5);
  assert.ok(Math.abs(labelToYear(yearToLabel(1901)) - 1901) < 1e-9);
});

test('e-mail cleaning drops headers, markup and attachments, decodes quoted-printable', () => {
  const raw = [
    'From: someone@example.com',
    'Subject: Great offer',
    'Content-Type: multipart/alternative;',
    '\tboundary="XYZ"',
    '',
    'This is a multi-part message in MIME format.',
    '--XYZ',
    'Content-Type: text/html; charset=iso-8859-1',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<HTML><BODY bgColor=3D#C0C0C0><FONT face=3D"Arial">Buy now &amp; save=',
    ' 50%!</FONT><BR>',
    '</BODY></HTML>',
    '--XYZ',
    'Content-Type: application/octet-stream',
    'Content-Transfer-Encoding: base64',
    '',
    'QUJDREVGR0g=',
    '--XYZ--',
    '',
  ].join('\n');
  assert.equal(emailBodyText(raw), 'Buy now & save 50%!');
  assert.equal(emailBodyText('Subject: hi\n\nPlain body,\n  two lines.\n**********\n'), 'Plain body, two lines.');
  assert.equal(emailBodyText('Subject: b64\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQ=\n'), 'Hello world');
  assert.equal(truncateAtWord('alpha beta gamma', 12), 'alpha beta');
});
