/**
 * The paper's outcome claims, each with the paper's number, the kit's number and a verdict. The
 * verdict rules are the constants below, fixed before any run is looked at; the README states them.
 * `not measured` is the verdict when the runs cannot speak to a claim (e.g. the baseline never got
 * below the unigram line, so "its quality" is no target).
 */
import { median } from '../util/stats';
import { PretrainResult } from '../train/pretrain';
import {
  TimeToTargetRow,
  evalCurve,
  gradNormSeries,
  sameLossSpeedup,
  timePerSampleSaving,
  timeToTargets,
} from './analysis';
import { ExperimentOptions, cachedFinetune, cachedRun, notebookPreset } from './runs';
import { NOTEBOOK_PLANS, VARIANT_LABELS } from './plans';
import { FinetuneResult } from '../finetune/finetune';
import { parsePreset } from '../train/config';

export type Verdict = 'reproduced' | 'partly' | 'not reproduced' | 'not measured';

export interface Claim {
  id: 'gradient-norms' | 'time-per-sample' | 'speedup' | 'lr-robustness' | 'finetune-parity';
  claim: string;
  paper: string;
  kit: string;
  /** The kit's number the verdict is drawn from (null: not measured). */
  value: number | null;
  verdict: Verdict;
  /** The rule that gave the verdict, in words (from THRESHOLDS). */
  rule: string;
}

/** Verdict thresholds, one block per claim. */
export const THRESHOLDS = {
  /**
   * Paper Fig. 1: PostLN's gradient norms shrink toward the lower blocks, PreLN's stay balanced.
   * Ratio = first block ÷ last block, median over recorded steps. Partly: PostLN shrinks but PreLN
   * is not balanced, or PostLN's ratio is below PreLN's by `relative` or more.
   */
  gradNorms: { postlnBelow: 0.5, prelnBalanced: [0.5, 2] as const, relative: 1.5 },
  /** Paper: 24 % less time per sample than PreLN. Reproduced from 20 %, partly from 10 %. */
  timePerSample: { paper: 0.24, reproduced: 0.2, partly: 0.1 },
  /** Paper: 2.5× faster than PostLN (its LR) to PostLN's quality. Reproduced from 2×, partly from 1.25×. */
  speedup: { paper: 2.5, reproduced: 2, partly: 1.25 },
  /**
   * Paper §5.2: at a learning rate both are run with (same warmup), PostLN fails (diverges, or
   * ends at or above the unigram line) while PreLN+PLD learns (ends `learns` nats below it).
   * Partly: both learn but PostLN ends `worse` nats or more above PreLN+PLD at some shared LR.
   */
  lrRobustness: { learns: 0.25, worse: 0.25 },
  /**
   * Paper: PLD's GLUE scores match the baseline's. A task counts when a pretrained model's median
   * beats the random-init control's median by `informative` points; PLD is at parity on it when its
   * median is no more than `tolerance` points below the baseline's. Reproduced: parity on every
   * counted task; partly: on at least half.
   */
  finetuneParity: { informative: 2, tolerance: 2 },
} as const;

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/** Gradient-norm balance from the median first/last block gradient-norm ratios of PostLN and PreLN. */
export function gradNormClaim(postlnRatio: number | null, prelnRatio: number | null): Claim {
  const t = THRESHOLDS.gradNorms;
  const base = {
    id: 'gradient-norms' as const,
    claim: 'PostLN gradient norms shrink toward the lower blocks; PreLN stays balanced',
    paper: 'Fig. 1 (qualitative)',
  };
  const rule = `reproduced: PostLN first/last < ${t.postlnBelow} and PreLN within [${t.prelnBalanced[0]}, ${t.prelnBalanced[1]}]; partly: PostLN < ${t.postlnBelow} alone, or PostLN's ratio ${t.relative}× or more below PreLN's`;
  if (postlnRatio === null || prelnRatio === null)
    return { ...base, kit: 'no gradient norms recorded', value: null, verdict: 'not measured', rule };
  const postlnShrinks = postlnRatio < t.postlnBelow;
  const prelnBalanced = prelnRatio >= t.prelnBalanced[0] && prelnRatio <= t.prelnBalanced[1];
  const verdict: Verdict =
    postlnShrinks && prelnBalanced
      ? 'reproduced'
      : postlnShrinks || postlnRatio * t.relative <= prelnRatio
        ? 'partly'
        : 'not reproduced';
  return {
    ...base,
    kit: `first/last block gradient norm: PostLN ${postlnRatio.toFixed(2)}, PreLN ${prelnRatio.toFixed(2)}`,
    value: postlnRatio,
    verdict,
    rule,
  };
}

/** Time per sample saved by PLD against PreLN (fraction). */
export function timePerSampleClaim(saving: number | null): Claim {
  const t = THRESHOLDS.timePerSample;
  const base = {
    id: 'time-per-sample' as const,
    claim: 'PreLN+PLD spends less time per sample than PreLN',
    paper: pct(t.paper),
  };
  const rule = `reproduced ≥ ${pct(t.reproduced)}, partly ≥ ${pct(t.partly)} (median ms/sample over the timed steps)`;
  if (saving === null || !Number.isFinite(saving))
    return { ...base, kit: 'no timed steps', value: null, verdict: 'not measured', rule };
  const verdict: Verdict = saving >= t.reproduced ? 'reproduced' : saving >= t.partly ? 'partly' : 'not reproduced';
  return { ...base, kit: pct(saving), value: saving, verdict, rule };
}

/**
 * Speedup of PLD over PostLN (its paper LR) to PostLN's final validation loss. Measured only when
 * that loss is below the unigram line: a loss a context-free model beats is no quality target.
 */
export function speedupClaim(s: { speedup: number | null; target: number; unigramLoss: number }): Claim {
  const t = THRESHOLDS.speedup;
  const base = {
    id: 'speedup' as const,
    claim: "PreLN+PLD reaches PostLN's quality faster than PostLN (training time)",
    paper: `${t.paper}×`,
  };
  const rule = `reproduced ≥ ${t.reproduced}×, partly ≥ ${t.partly}×, to PostLN's final validation loss when it is below the unigram line`;
  if (!(s.target < s.unigramLoss))
    return {
      ...base,
      kit: `PostLN ends at ${s.target.toFixed(3)}, not below the unigram line ${s.unigramLoss.toFixed(3)}`,
      value: null,
      verdict: 'not measured',
      rule,
    };
  if (s.speedup === null)
    return {
      ...base,
      kit: `PreLN+PLD never reaches PostLN's ${s.target.toFixed(3)}`,
      value: null,
      verdict: 'not reproduced',
      rule,
    };
  const verdict: Verdict =
    s.speedup >= t.reproduced ? 'reproduced' : s.speedup >= t.partly ? 'partly' : 'not reproduced';
  return { ...base, kit: `${s.speedup.toFixed(2)}× to ${s.target.toFixed(3)} nats`, value: s.speedup, verdict, rule };
}

/** One finished (or diverged) run of the learning-rate sweep. */
export interface SweepPoint {
  variant: string;
  lr: number;
  /** Warmup fraction; a PostLN and a PreLN+PLD run are compared only when it is the same (paper §5.2). */
  warmup?: number;
  diverged: boolean;
  finalValLoss: number | null;
}

/** PostLN fails where PreLN+PLD learns, at a learning rate both were run with. */
export function lrRobustnessClaim(points: SweepPoint[], unigramLoss: number): Claim {
  const t = THRESHOLDS.lrRobustness;
  const base = {
    id: 'lr-robustness' as const,
    claim: 'PostLN fails at a learning rate where PreLN+PLD trains',
    paper: 'PostLN diverges at large LRs (§5.2)',
  };
  const rule = `reproduced: at a shared LR PostLN diverges or ends ≥ the unigram line while PreLN+PLD ends ≥ ${t.learns} nats below it; partly: PostLN ends ≥ ${t.worse} nats above PreLN+PLD at a shared LR`;
  const failed = (p: SweepPoint): boolean =>
    p.diverged || p.finalValLoss === null || !Number.isFinite(p.finalValLoss) || p.finalValLoss >= unigramLoss;
  const learned = (p: SweepPoint): boolean =>
    !p.diverged && p.finalValLoss !== null && p.finalValLoss <= unigramLoss - t.learns;
  const pair = (lr: number): [SweepPoint, SweepPoint] | null => {
    const a = points.find((p) => p.variant === 'postln' && p.lr === lr);
    const b = points.find((p) => p.variant === 'preln-pld' && p.lr === lr && p.warmup === a?.warmup);
    return a && b ? [a, b] : null;
  };
  const lrs = [...new Set(points.filter((p) => p.variant === 'postln').map((p) => p.lr))]
    .filter((lr) => pair(lr) !== null)
    .sort((a, b) => a - b);
  if (lrs.length === 0)
    return {
      ...base,
      kit: 'no learning rate run with both PostLN and PreLN+PLD (same warmup)',
      value: null,
      verdict: 'not measured',
      rule,
    };
  const at = (variant: string, lr: number): SweepPoint =>
    (pair(lr) as [SweepPoint, SweepPoint])[variant === 'postln' ? 0 : 1];
  const describe = (p: SweepPoint): string => (p.diverged ? 'diverged' : (p.finalValLoss?.toFixed(3) ?? 'n/a'));
  const kit =
    lrs
      .map((lr) => `lr ${lr}: PostLN ${describe(at('postln', lr))}, PreLN+PLD ${describe(at('preln-pld', lr))}`)
      .join('; ') + ` (unigram ${unigramLoss.toFixed(3)})`;
  const fails = lrs.filter((lr) => failed(at('postln', lr)) && learned(at('preln-pld', lr)));
  if (fails.length) return { ...base, kit, value: fails[0], verdict: 'reproduced', rule };
  const worse = lrs.filter((lr) => {
    const a = at('postln', lr).finalValLoss;
    const b = at('preln-pld', lr).finalValLoss;
    return a !== null && b !== null && !at('preln-pld', lr).diverged && a - b >= t.worse;
  });
  return { ...base, kit, value: worse[0] ?? null, verdict: worse.length ? 'partly' : 'not reproduced', rule };
}

/** Per-seed dev scores of one task for PLD, the paper's baseline and the random-init control. */
export interface ParityTask {
  task: string;
  pld: number[];
  baseline: number[];
  control: number[];
}

/** PLD's fine-tuning scores match the baseline's on the tasks where pretraining shows at all. */
export function finetuneParityClaim(tasks: ParityTask[]): Claim {
  const t = THRESHOLDS.finetuneParity;
  const base = {
    id: 'finetune-parity' as const,
    claim: 'PreLN+PLD fine-tunes as well as the baseline',
    paper: 'GLUE 82.9 (PLD) vs 82.1 (baseline)',
  };
  const rule = `counted tasks: a pretrained median beats the random-init control by ≥ ${t.informative} points; parity: PLD's median ≥ baseline's − ${t.tolerance}; reproduced: parity on all counted tasks, partly: on half`;
  const counted = tasks.filter(
    (k) =>
      k.pld.length &&
      k.baseline.length &&
      k.control.length &&
      Math.max(median(k.pld), median(k.baseline)) >= median(k.control) + t.informative,
  );
  if (counted.length === 0)
    return {
      ...base,
      kit: `no task where pretraining beats the random-init control by ${t.informative} points`,
      value: null,
      verdict: 'not measured',
      rule,
    };
  const gaps = counted.map((k) => ({ task: k.task, gap: median(k.pld) - median(k.baseline) }));
  const atParity = gaps.filter((g) => g.gap >= -t.tolerance).length;
  const verdict: Verdict =
    atParity === counted.length ? 'reproduced' : atParity * 2 >= counted.length ? 'partly' : 'not reproduced';
  const kit =
    gaps.map((g) => `${g.task} ${g.gap >= 0 ? '+' : ''}${g.gap.toFixed(1)}`).join(', ') +
    ` (PLD − baseline, median points; ${atParity}/${counted.length} at parity)`;
  return { ...base, kit, value: atParity / counted.length, verdict, rule };
}

/** Median first/last gradient-norm ratio of a run with recorded per-block norms, or null. */
export function medianGradRatio(r: PretrainResult): number | null {
  const s = gradNormSeries('', r).firstOverLast.filter(Number.isFinite);
  return s.length ? median(s) : null;
}

export interface ClaimInputs {
  postln: PretrainResult;
  preln: PretrainResult;
  pld: PretrainResult;
  /** Runs with recorded per-block gradient norms (notebook 01); the main runs when absent. */
  gradNorms?: { postln: PretrainResult; preln: PretrainResult };
  /** Every run of the learning-rate sweep, main runs included. */
  lrSweep: PretrainResult[];
  /** Fine-tuning per task, when notebook 04 has run. */
  finetune?: ParityTask[];
}

/** The input-copy line of a run's validation split (src/train/reference.ts `copyScore`). */
export function copyLossOf(r: PretrainResult): number {
  const c = (r.manifest.reference as PretrainResult['manifest']['reference'] | undefined)?.copyLoss;
  if (c === undefined)
    throw new Error(
      `run ${r.out} has no input-copy reference line; it was made by an older kit: rerun it (PLD_FRESH=1)`,
    );
  return c;
}

/** The unigram line a run was evaluated against (src/train/reference.ts). */
export function unigramLossOf(r: PretrainResult): number {
  const u =
    r.evals.at(-1)?.unigramLoss ??
    (r.manifest.reference as PretrainResult['manifest']['reference'] | undefined)?.unigramLoss;
  if (u === undefined)
    throw new Error(`run ${r.out} has no unigram reference line; it was made by an older kit: rerun it (PLD_FRESH=1)`);
  return u;
}

/** Every claim from the runs. */
export function computeClaims(x: ClaimInputs): Claim[] {
  const unigramLoss = unigramLossOf(x.preln);
  const g = x.gradNorms ?? { postln: x.postln, preln: x.preln };
  const s = sameLossSpeedup(evalCurve(x.postln.evals), evalCurve(x.pld.evals));
  return [
    gradNormClaim(medianGradRatio(g.postln), medianGradRatio(g.preln)),
    timePerSampleClaim(timePerSampleSaving(x.pld, x.preln)),
    speedupClaim({ speedup: s.speedup, target: s.target, unigramLoss }),
    lrRobustnessClaim(
      x.lrSweep.map((r) => ({
        variant: r.config.variant,
        lr: r.config.optim.lr,
        warmup: r.config.optim.warmupFraction,
        diverged: r.diverged,
        finalValLoss: r.finalValLoss,
      })),
      unigramLoss,
    ),
    x.finetune
      ? finetuneParityClaim(x.finetune)
      : { ...finetuneParityClaim([]), kit: 'fine-tuning not run yet (notebook 04)' },
  ];
}

/** The claims as Markdown, one line each: what the runs say, and nothing else (the notebooks' reading). */
export function claimsMarkdown(claims: Claim[]): string {
  return claims
    .map((c) => `- **${c.claim}** — paper: ${c.paper}; kit: ${c.kit} → **${c.verdict}** (${c.rule}).`)
    .join('\n');
}

/** The claims as table rows (notebooks' showTable, README). */
export function claimsTable(claims: Claim[]): { claim: string; paper: string; kit: string; verdict: Verdict }[] {
  return claims.map((c) => ({ claim: c.claim, paper: c.paper, kit: c.kit, verdict: c.verdict }));
}

/** Per-seed dev scores of PLD, the baseline and the control, task by task, from fine-tuning results. */
export function parityTasks(pld: FinetuneResult, baseline: FinetuneResult, control: FinetuneResult): ParityTask[] {
  return pld.summary.flatMap((s) => {
    const b = baseline.summary.find((x) => x.task === s.task);
    const c = control.summary.find((x) => x.task === s.task);
    return b && c ? [{ task: s.task, pld: s.scores, baseline: b.scores, control: c.scores }] : [];
  });
}

/** What figures/claims.json holds. */
export interface ClaimsReport {
  preset: string;
  unigramLoss: number;
  claims: Claim[];
  /** Time to each target below the unigram line, and PLD's speedups over PreLN (same LR) and PostLN (paper LR). */
  timeToTargets: TimeToTargetRow[];
  thresholds: typeof THRESHOLDS;
}

/**
 * The claims from the cached runs of a preset (what the notebooks ran), or null when the three main
 * runs are not all there. Never trains: a claim whose runs are missing comes out `not measured`.
 */
export function claimsFromCache(o: ExperimentOptions = {}): ClaimsReport | null {
  const preset = parsePreset(o.preset ?? notebookPreset());
  const opts = { ...o, preset };
  const [postln, preln, pld] = (['postln', 'preln', 'preln-pld'] as const).map((v) => cachedRun(v, opts));
  if (!postln || !preln || !pld) return null;
  const plan = NOTEBOOK_PLANS[preset];
  const sweep = [
    postln,
    pld,
    ...plan.lrSweep.postln.map((lr) => cachedRun('postln', { ...opts, overrides: [{ optim: { lr } }] })),
    ...plan.lrSweep['preln-pld'].map((lr) => cachedRun('preln-pld', { ...opts, overrides: [{ optim: { lr } }] })),
  ].filter((r): r is PretrainResult => r !== null);
  const ft = {
    pld: cachedFinetune(pld, 'pretrained'),
    baseline: cachedFinetune(postln, 'pretrained'),
    control: cachedFinetune(postln, 'random'),
  };
  const finetune = ft.pld && ft.baseline && ft.control ? parityTasks(ft.pld, ft.baseline, ft.control) : undefined;
  const claims = computeClaims({ postln, preln, pld, lrSweep: sweep, finetune });
  const unigramLoss = unigramLossOf(preln);
  const label = VARIANT_LABELS;
  const curves = {
    [label.postln]: evalCurve(postln.evals),
    [label.preln]: evalCurve(preln.evals),
    [label['preln-pld']]: evalCurve(pld.evals),
  };
  return {
    preset,
    unigramLoss,
    claims,
    timeToTargets: timeToTargets(curves, label['preln-pld'], [label.preln, label.postln], unigramLoss),
    thresholds: THRESHOLDS,
  };
}

/** `claimsFromCache` for a notebook's last cell: the report, or one line saying which notebook to run first. */
export function claimsReport(o: ExperimentOptions = {}): ClaimsReport {
  const r = claimsFromCache(o);
  if (!r)
    throw new Error(
      `the three main runs of preset ${o.preset ?? notebookPreset()} are not all in the run cache; run notebooks/03-speedup.ipynb first`,
    );
  return r;
}
