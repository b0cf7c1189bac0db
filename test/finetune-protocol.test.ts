import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FINETUNE_DEFAULTS,
  FinetuneConfig,
  FinetuneResult,
  TrainAndScore,
  gainsOverControl,
  holdOut,
  runTaskProtocol,
  taskConfig,
} from '../src/finetune/finetune';
import { Example, TaskData } from '../src/tasks/types';

/** 100 training examples from 50 documents (two each), and a dev set that may only be read after the LR is chosen. */
function task(onDevRead: () => void): TaskData {
  const train: Example[] = Array.from({ length: 100 }, (_, i) => ({
    textA: `train ${i}`,
    label: i % 2,
    origin: [`doc${i >> 1}`],
  }));
  const dev = [{ textA: 'dev', label: 1 }];
  return {
    spec: { name: 'toy', kind: 'classification', numLabels: 2, metrics: ['accuracy'], pair: false },
    train,
    get dev() {
      onDevRead();
      return { dev };
    },
    baseline: { dev: { score: 50, metrics: { accuracy: 0.5 } } },
    skippedRows: {},
    notes: [],
  } as unknown as TaskData;
}

const CFG: FinetuneConfig = {
  ...FINETUNE_DEFAULTS,
  lrs: [1e-3, 3e-3, 1e-2],
  seeds: [1, 2, 3, 4, 5],
  selectionSeeds: 2,
};

test('the learning rate is chosen on held-out training examples; the dev set is never read for it', async () => {
  const calls: { lr: number; seed: number; trainSize: number; sets: string[]; devReadBefore: boolean }[] = [];
  let devReads = 0;
  const t = task(() => devReads++);
  const trainTexts = new Set(t.train.map((e) => e.textA));
  // A fake trainer whose dev score would favour 1e-2 and held-out score favours 3e-3: the choice must follow held-out.
  const trainAndScore: TrainAndScore = async (train, evalSets, lr, seed) => {
    calls.push({ lr, seed, trainSize: train.length, sets: Object.keys(evalSets), devReadBefore: devReads > 0 });
    const onHeldOut = 'heldOut' in evalSets;
    if (onHeldOut)
      for (const e of evalSets.heldOut)
        assert.ok(trainTexts.has(e.textA), 'held-out examples come from the training split');
    const accuracy = onHeldOut ? (lr === 3e-3 ? 90 : 60) : lr === 1e-2 ? 99 : 70 + seed;
    return Object.fromEntries(Object.keys(evalSets).map((k) => [k, { accuracy }]));
  };
  const r = await runTaskProtocol(t, CFG, trainAndScore);
  assert.equal(r.bestLr, 3e-3);
  assert.deepEqual(
    r.heldOut.map((h) => [h.lr, Math.round(h.score)]),
    [
      [1e-3, 60],
      [3e-3, 90],
      [1e-2, 60],
    ],
  );
  const selection = calls.filter((c) => c.sets[0] === 'heldOut');
  assert.equal(selection.length, 3 * 2, 'each LR with the first two seeds');
  assert.ok(
    selection.every((c) => !c.devReadBefore && c.trainSize < 100),
    'selection fits on part of train, before any dev read',
  );
  const reported = calls.filter((c) => c.sets[0] === 'dev');
  assert.deepEqual(
    reported.map((c) => [c.lr, c.seed, c.trainSize]),
    [1, 2, 3, 4, 5].map((s) => [3e-3, s, 100]),
  );
  assert.deepEqual(
    r.runs.map((x) => x.metrics.dev.accuracy),
    [71, 72, 73, 74, 75],
  );
});

test('a single learning rate needs no selection runs', async () => {
  const seen: string[][] = [];
  const r = await runTaskProtocol(
    task(() => undefined),
    { ...CFG, lrs: [3e-3] },
    async (_, evalSets) => (seen.push(Object.keys(evalSets)), { dev: { accuracy: 0.5 } }),
  );
  assert.deepEqual([r.bestLr, r.heldOut, seen.length, seen.every((s) => s[0] === 'dev')], [3e-3, [], 5, true]);
});

test('held-out split: whole documents on one side, fixed, and clear errors', async () => {
  const t = task(() => undefined);
  const a = holdOut(t.train, 0.2);
  const b = holdOut(t.train, 0.2);
  assert.deepEqual(a, b);
  assert.equal(a.fit.length + a.heldOut.length, 100);
  assert.ok(a.heldOut.length > 5 && a.heldOut.length < 40, `${a.heldOut.length} held out`);
  const docs = (xs: Example[]): Set<string> => new Set(xs.map((e) => (e.origin as string[])[0]));
  const fitDocs = docs(a.fit);
  assert.ok(
    [...docs(a.heldOut)].every((d) => !fitDocs.has(d)),
    'no document on both sides',
  );
  assert.throws(() => holdOut(t.train, 1), /^Error: heldOutFraction must be between 0 and 1 \(exclusive\), got 1$/);
  assert.throws(
    () => holdOut(t.train.slice(0, 1), 0.01),
    /^Error: cannot hold out 0.01 of 1 training examples by document \(0 held out\); use more training examples or a single learning rate$/,
  );
  await assert.rejects(
    runTaskProtocol(t, { ...CFG, lrs: [] }, async () => ({})),
    /^Error: fine-tuning needs at least one learning rate \(lrs\)$/,
  );
});

test('gain over the random-init control: median minus the control median, per task', () => {
  const res = (label: string, init: 'pretrained' | 'random', medians: Record<string, number>): FinetuneResult =>
    ({
      label,
      init,
      variant: 'preln',
      summary: Object.entries(medians).map(([task, median]) => ({ task, median })),
    }) as unknown as FinetuneResult;
  const g = gainsOverControl([
    res('PreLN', 'pretrained', { spam: 90, genre: 50 }),
    res('control', 'random', { spam: 80, genre: 52 }),
  ]);
  assert.deepEqual(g, [
    { task: 'spam', variant: 'PreLN', gain: 10 },
    { task: 'genre', variant: 'PreLN', gain: -2 },
  ]);
  assert.throws(
    () => gainsOverControl([res('PreLN', 'pretrained', {})]),
    /^Error: no random-init control among the fine-tuning results \(PreLN\); fine-tune one with init: 'random'$/,
  );
});

test('per-task settings override the rest for that task only, matched by name in any case', () => {
  const cfg: FinetuneConfig = {
    ...FINETUNE_DEFAULTS,
    maxTrain: 400,
    epochs: 2,
    perTask: { acceptability: { maxTrain: 800, epochs: 3 } },
  };
  const a = taskConfig(cfg, 'Acceptability');
  assert.equal(a.maxTrain, 800);
  assert.equal(a.epochs, 3);
  assert.deepEqual(a.lrs, cfg.lrs);
  const spam = taskConfig(cfg, 'spam');
  assert.equal(spam.maxTrain, 400);
  assert.equal(spam.epochs, 2);
  assert.equal(taskConfig(FINETUNE_DEFAULTS, 'spam'), FINETUNE_DEFAULTS);
});
