import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig, Variant } from '../src/train/config';
import { EvalRecord, PretrainResult, StepRecord } from '../src/train/pretrain';
import {
  TARGET_OFFSETS,
  medianMsPerSample,
  speedupAt,
  timeToTargets,
  timedSteps,
  timePerSampleSaving,
} from '../src/experiments/analysis';
import {
  Claim,
  computeClaims,
  finetuneParityClaim,
  gradNormClaim,
  lrRobustnessClaim,
  speedupClaim,
  timePerSampleClaim,
} from '../src/experiments/claims';
import { close } from './helpers';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultOutDir } from '../src/train/pretrain';
import { claimsFromCache } from '../src/experiments/claims';

const UNIGRAM = 6.8;

/**
 * A synthetic finished run: validation loss falls linearly from `from` to `to` over `evals`
 * evaluations, one every `secondsPerEval` training seconds; every step takes `msPerSample` per sample
 * (batch 10) except the untimed first 3, which take 10× as long; per-block gradient norms with the given first/last ratio.
 */
function run(
  variant: Variant,
  o: {
    lr?: number;
    from?: number;
    to: number;
    secondsPerEval: number;
    msPerSample: number;
    evals?: number;
    diverged?: boolean;
    gradRatio?: number;
  },
): PretrainResult {
  const cfg = resolveConfig(variant, 'quick', ...(o.lr !== undefined ? [{ optim: { lr: o.lr } }] : []));
  const n = o.evals ?? 10;
  const from = o.from ?? 7.5;
  const evals: EvalRecord[] = Array.from({ length: n }, (_, i) => ({
    step: (i + 1) * 10,
    valLoss: from + ((o.to - from) * i) / (n - 1),
    valAccuracy: 0.1,
    unigramLoss: UNIGRAM,
    unigramAccuracy: 0.06,
    trainSeconds: (i + 1) * o.secondsPerEval,
  }));
  const L = cfg.model.layers;
  const steps: StepRecord[] = Array.from({ length: 40 }, (_, i) => ({
    step: i,
    lr: 1e-3,
    loss: 7,
    theta: 1,
    expectedBlocks: L,
    blocksRun: L,
    samplesPerSec: 1000 / (o.msPerSample * (i < 3 ? 10 : 1)),
    trainSeconds: i,
    timed: i >= 3,
    gradNorm: 1,
    blockGradNorms: Array.from({ length: L }, (_, l) => (o.gradRatio ?? 1) + ((1 - (o.gradRatio ?? 1)) * l) / (L - 1)),
  }));
  const final = o.diverged ? null : evals[n - 1].valLoss;
  return {
    out: `synthetic/${variant}-${cfg.optim.lr}`,
    config: cfg,
    finished: !o.diverged,
    diverged: !!o.diverged,
    error: null,
    steps,
    evals,
    finalValLoss: final,
    trainSeconds: n * o.secondsPerEval,
    checkpoint: '',
    manifest: {} as PretrainResult['manifest'],
  };
}

const verdicts = (cs: Claim[]): Record<string, string> => Object.fromEntries(cs.map((c) => [c.id, c.verdict]));

test('time to a ladder of targets below the unigram line, and speedups at each', () => {
  const curves = {
    PostLN: { step: [1, 2, 3], seconds: [10, 20, 30], valLoss: [7, 6.5, 6.3] },
    PreLN: { step: [1, 2, 3], seconds: [10, 20, 30], valLoss: [7, 6, 5.5] },
    'PreLN+PLD': { step: [1, 2, 3], seconds: [5, 10, 15], valLoss: [7, 6, 5.5] },
  };
  assert.deepEqual(TARGET_OFFSETS, [0.25, 0.5, 0.75, 1, 1.25, 1.5]);
  const rows = timeToTargets(curves, 'PreLN+PLD', ['PreLN', 'PostLN'], 6.8, [0.5, 1]);
  // 6.3: PostLN at 30 s; PreLN between (20, 6) and (10, 7): 10 + 0.7·10 = 17 s; PLD half that: 8.5 s.
  assert.equal(rows[0].belowUnigram, 0.5);
  close(rows[0].target, 6.3);
  close(rows[0].seconds.PostLN as number, 30);
  close(rows[0].seconds.PreLN as number, 17);
  close(rows[0].seconds['PreLN+PLD'] as number, 8.5);
  close(rows[0].speedup.PreLN as number, 2);
  close(rows[0].speedup.PostLN as number, 30 / 8.5);
  // 5.8: PostLN never gets there, so no speedup over it.
  assert.equal(rows[1].seconds.PostLN, null);
  assert.equal(rows[1].speedup.PostLN, null);
  close(rows[1].speedup.PreLN as number, 2);
  assert.equal(speedupAt(curves.PreLN, curves.PostLN, 5).speedup, null);
  assert.throws(
    () => timeToTargets(curves, 'PLD', ['PreLN'], 6.8),
    /^Error: no loss curve labelled 'PLD'; curves: PostLN, PreLN, PreLN\+PLD$/,
  );
});

test('untimed warm-up steps count for nobody in time per sample', () => {
  const a = run('preln', { to: 5, secondsPerEval: 1, msPerSample: 4 });
  assert.equal(timedSteps(a).length, 37);
  assert.equal(medianMsPerSample(a), 4);
  close(timePerSampleSaving(run('preln-pld', { to: 5, secondsPerEval: 1, msPerSample: 3 }), a), 0.25);
});

test('claim verdicts follow the thresholds', () => {
  assert.equal(timePerSampleClaim(0.24).verdict, 'reproduced');
  assert.equal(timePerSampleClaim(0.15).verdict, 'partly');
  assert.equal(timePerSampleClaim(0.02).verdict, 'not reproduced');
  assert.equal(speedupClaim({ speedup: 2.6, target: 6, unigramLoss: UNIGRAM }).verdict, 'reproduced');
  assert.equal(speedupClaim({ speedup: 1.5, target: 6, unigramLoss: UNIGRAM }).verdict, 'partly');
  assert.equal(speedupClaim({ speedup: null, target: 6, unigramLoss: UNIGRAM }).verdict, 'not reproduced');
  // A baseline that never beats the unigram line sets no quality target.
  assert.equal(speedupClaim({ speedup: 9, target: 7.7, unigramLoss: UNIGRAM }).verdict, 'not measured');
  assert.equal(gradNormClaim(0.2, 1.1).verdict, 'reproduced');
  assert.equal(gradNormClaim(0.6, 1.1).verdict, 'partly');
  assert.equal(gradNormClaim(0.2, 3).verdict, 'partly');
  // Both balanced: the contrast the paper draws is not there.
  assert.equal(gradNormClaim(0.96, 0.99).verdict, 'not reproduced');
  assert.equal(gradNormClaim(3, 2.5).verdict, 'not reproduced');
  assert.equal(gradNormClaim(null, 1).verdict, 'not measured');
  const p = (
    variant: string,
    lr: number,
    loss: number | null,
  ): { variant: string; lr: number; diverged: boolean; finalValLoss: number | null } => ({
    variant,
    lr,
    diverged: loss === null,
    finalValLoss: loss,
  });
  assert.equal(lrRobustnessClaim([p('postln', 1e-3, null), p('preln-pld', 1e-3, 6.0)], UNIGRAM).verdict, 'reproduced');
  assert.equal(lrRobustnessClaim([p('postln', 1e-3, 6.9), p('preln-pld', 1e-3, 6.0)], UNIGRAM).verdict, 'reproduced');
  assert.equal(lrRobustnessClaim([p('postln', 1e-3, 6.4), p('preln-pld', 1e-3, 6.0)], UNIGRAM).verdict, 'partly');
  assert.equal(
    lrRobustnessClaim([p('postln', 1e-3, 6.1), p('preln-pld', 1e-3, 6.0)], UNIGRAM).verdict,
    'not reproduced',
  );
  // A different warmup is no comparison (paper §5.2 keeps it the same).
  assert.equal(
    lrRobustnessClaim(
      [
        { ...p('postln', 1e-3, null), warmup: 0.02 },
        { ...p('preln-pld', 1e-3, 6.0), warmup: 0.1 },
      ],
      UNIGRAM,
    ).verdict,
    'not measured',
  );
  // Different LRs are no comparison.
  assert.equal(
    lrRobustnessClaim([p('postln', 1e-4, null), p('preln-pld', 1e-3, 6.0)], UNIGRAM).verdict,
    'not measured',
  );
  const task = (
    pld: number[],
    baseline: number[],
    control: number[],
  ): { task: string; pld: number[]; baseline: number[]; control: number[] } => ({ task: 't', pld, baseline, control });
  assert.equal(finetuneParityClaim([task([80, 81, 79], [80, 82, 81], [60, 61, 62])]).verdict, 'reproduced');
  assert.equal(finetuneParityClaim([task([70, 71, 69], [80, 82, 81], [60, 61, 62])]).verdict, 'not reproduced');
  assert.equal(
    finetuneParityClaim([
      task([70, 71, 69], [80, 82, 81], [60, 61, 62]),
      task([80, 80, 80], [80, 80, 80], [50, 50, 50]),
    ]).verdict,
    'partly',
  );
  // No model beats the random-init control: the task says nothing about pretraining.
  assert.equal(finetuneParityClaim([task([60, 61, 62], [60, 61, 62], [61, 61, 61])]).verdict, 'not measured');
});

test('claims from synthetic runs: a PLD that matches the paper comes out reproduced', () => {
  const postln = run('postln', { lr: 1e-4, to: 6.3, secondsPerEval: 10, msPerSample: 4, gradRatio: 0.2 });
  const preln = run('preln', { to: 5.5, secondsPerEval: 10, msPerSample: 4, gradRatio: 1 });
  // PLD: 25 % less time per sample, and the same curve per second 3× faster.
  const pld = run('preln-pld', { to: 5.5, secondsPerEval: 10 / 3, msPerSample: 3 });
  const postlnHigh = run('postln', { lr: 1e-3, to: 7.2, secondsPerEval: 10, msPerSample: 4, diverged: true });
  const c = computeClaims({
    postln,
    preln,
    pld,
    lrSweep: [postln, preln, pld, postlnHigh],
    finetune: [
      { task: 'spam', pld: [90, 91, 92, 90, 91], baseline: [90, 90, 91, 92, 90], control: [70, 71, 70, 72, 70] },
    ],
  });
  assert.deepEqual(verdicts(c), {
    'gradient-norms': 'reproduced',
    'time-per-sample': 'reproduced',
    speedup: 'reproduced',
    'lr-robustness': 'reproduced',
    'finetune-parity': 'reproduced',
  });
});

test('claims from synthetic runs: a PLD that saves nothing comes out not reproduced', () => {
  const postln = run('postln', { lr: 1e-4, to: 6.3, secondsPerEval: 10, msPerSample: 4, gradRatio: 3 });
  const preln = run('preln', { to: 5.5, secondsPerEval: 10, msPerSample: 4, gradRatio: 2.5 });
  // PLD: as slow per sample as PreLN and slower to every loss than PostLN.
  const pld = run('preln-pld', { to: 6.2, secondsPerEval: 20, msPerSample: 4 });
  const postlnHigh = run('postln', { lr: 1e-3, to: 6.2, secondsPerEval: 10, msPerSample: 4 });
  const c = computeClaims({
    postln,
    preln,
    pld,
    lrSweep: [postln, pld, postlnHigh],
    finetune: [
      { task: 'spam', pld: [75, 74, 76, 75, 73], baseline: [90, 90, 91, 92, 90], control: [70, 71, 70, 72, 70] },
    ],
  });
  assert.deepEqual(verdicts(c), {
    'gradient-norms': 'not reproduced',
    'time-per-sample': 'not reproduced',
    speedup: 'not reproduced',
    'lr-robustness': 'not reproduced',
    'finetune-parity': 'not reproduced',
  });
});

test('claims from the run cache: null until the three main runs are there, then every claim', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-claims-'));
  assert.equal(claimsFromCache({ preset: 'quick', runsDir: dir }), null);
  const save = (r: PretrainResult): void => {
    const out = path.join(dir, path.relative('runs', defaultOutDir(r.config)));
    fs.mkdirSync(out, { recursive: true });
    const manifest = {
      status: r.diverged ? 'diverged' : 'finished',
      config: r.config,
      error: null,
      finalValLoss: r.finalValLoss,
      trainSeconds: r.trainSeconds,
      reference: { unigramLoss: UNIGRAM, unigramAccuracy: 0.06, validTokens: 1 },
    };
    fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest));
    fs.writeFileSync(path.join(out, 'log.jsonl'), r.steps.map((x) => JSON.stringify(x) + '\n').join(''));
    fs.writeFileSync(path.join(out, 'eval.jsonl'), r.evals.map((x) => JSON.stringify(x) + '\n').join(''));
  };
  save(
    run('postln', {
      lr: resolveConfig('postln', 'quick').optim.lr,
      to: 6.3,
      secondsPerEval: 10,
      msPerSample: 4,
      gradRatio: 0.2,
    }),
  );
  save(run('preln', { to: 5.5, secondsPerEval: 10, msPerSample: 4 }));
  assert.equal(claimsFromCache({ preset: 'quick', runsDir: dir }), null);
  save(run('preln-pld', { to: 5.5, secondsPerEval: 10 / 3, msPerSample: 3 }));
  const r = claimsFromCache({ preset: 'quick', runsDir: dir });
  assert.ok(r);
  assert.equal(r.unigramLoss, UNIGRAM);
  assert.deepEqual(verdicts(r.claims), {
    'gradient-norms': 'reproduced',
    'time-per-sample': 'reproduced',
    speedup: 'reproduced',
    'lr-robustness': 'not measured',
    'finetune-parity': 'not measured',
  });
  assert.equal(r.timeToTargets.length, 6);
  close(r.timeToTargets[0].speedup.PreLN as number, 3);
  // A cached run whose manifest has no reference lines is stale: it is not read.
  const preln = path.join(dir, path.relative('runs', defaultOutDir(resolveConfig('preln', 'quick'))), 'manifest.json');
  const { reference: _dropped, ...stale } = JSON.parse(fs.readFileSync(preln, 'utf8'));
  fs.writeFileSync(preln, JSON.stringify(stale));
  assert.equal(claimsFromCache({ preset: 'quick', runsDir: dir }), null);
  fs.rmSync(dir, { recursive: true, force: true });
});
