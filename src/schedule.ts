/**
 * Progressive Layer Dropping schedule (Zhang & He, NeurIPS 2020, §4 "Progressive schedule").
 *
 * Two pure ingredients and a sampler:
 *  - temporal:  θ(t) = (1 − θ̄)·exp(−γ·t) + θ̄, so θ(0) = 1 (full depth at the start of training)
 *    and θ(t) → θ̄ as training stabilises. Same formula as DeepSpeed's
 *    `deepspeed/runtime/progressive_layer_drop.py` (`_prob`), evaluated once per optimizer step.
 *  - depth:     p_l(t) = 1 − (l/L)·(1 − θ(t)) for block l = 1..L: lower blocks are kept more often.
 *  - sampler:   one Bernoulli gate G_l ~ p_l per block per training step, drawn from a seeded Rng.
 *
 * Related schedules are *configurations* of the same functions, not copies:
 *  - no dropping:          θ̄ = 1 (then θ(t) = 1 and every p_l = 1);
 *  - constant θ:           `constantTheta: true` (θ(t) = θ̄ from step 0, no progressive warm start);
 *  - LayerDrop (Fan 2019): `depth: 'uniform'` (p_l = θ for every block) and `rescale: false`;
 *  - stochastic depth (Huang 2016): `constantTheta: true` with the paper's depth rule, whose
 *    survival probability already decays linearly with depth, from 1 to θ̄ at the top block.
 */
import { Rng } from './util/rng';

/** How the keep probability varies across blocks. */
export type DepthRule =
  /** The paper: p_l = 1 − (l/L)(1 − θ), l = 1..L. */
  | 'paper'
  /**
   * DeepSpeedExamples `bing_bert/nvidia/modelingpreln_layerdrop.py`: block i (0-based) is sampled
   * with keep probability 1 − i(1 − θ)/L (block 0 never dropped) but its branches are rescaled by
   * 1/(1 − (i+1)(1 − θ)/L), the paper's p for the same block. Kept so results can be compared with
   * DeepSpeed's published runs, which used this code; the paper's form is the default because its
   * rescale makes each branch unbiased (E[G/p] = 1), which DeepSpeed's does not.
   */
  | 'deepspeed'
  /** LayerDrop-style: every block kept with the same probability θ. */
  | 'uniform';

export interface ScheduleConfig {
  /** θ̄: the limit of θ(t). Paper range [0.5, 0.9]; DeepSpeed tutorial default 0.5. 1 = no dropping. */
  thetaBar: number;
  /** γ: how fast θ(t) decays towards θ̄ (per optimizer step). DeepSpeed tutorial default 0.001. */
  gamma: number;
  depth: DepthRule;
  /** Divide each kept branch by its keep probability (the paper's 1/p). LayerDrop uses false. */
  rescale: boolean;
  /** When true θ(t) = θ̄ from step 0 (no progressive warm start), for ablations. */
  constantTheta: boolean;
}

/** No dropping at all: the PreLN / PostLN baselines. */
export const NO_DROP: ScheduleConfig = { thetaBar: 1, gamma: 0, depth: 'paper', rescale: true, constantTheta: false };
/** The paper's PLD with DeepSpeed's tutorial hyper-parameters (θ̄ = 0.5, γ = 0.001). */
export const PLD_DEFAULT: ScheduleConfig = {
  thetaBar: 0.5,
  gamma: 0.001,
  depth: 'paper',
  rescale: true,
  constantTheta: false,
};

export function validateSchedule(s: ScheduleConfig, layers: number): void {
  if (!(s.thetaBar > 0 && s.thetaBar <= 1)) {
    throw new Error(
      `schedule thetaBar must be in (0, 1], got ${s.thetaBar}; the paper uses 0.5 to 0.9 and 1 disables dropping`,
    );
  }
  if (!(s.gamma >= 0) || !Number.isFinite(s.gamma)) {
    throw new Error(`schedule gamma must be a finite number >= 0, got ${s.gamma}; DeepSpeed's default is 0.001`);
  }
  if (!Number.isInteger(layers) || layers < 1) {
    throw new Error(`number of blocks L must be an integer >= 1, got ${layers}`);
  }
}

/** θ(t) = (1 − θ̄)·exp(−γ·t) + θ̄ (paper eq. in §4; DeepSpeed `_prob`). */
export function theta(t: number, thetaBar: number, gamma: number): number {
  return (1 - thetaBar) * Math.exp(-gamma * t) + thetaBar;
}

/** θ at optimizer step t under a schedule config (honours `constantTheta`). */
export function thetaAt(s: ScheduleConfig, t: number): number {
  return s.constantTheta ? s.thetaBar : theta(t, s.thetaBar, s.gamma);
}

/** Paper: keep probability of block l (1-based) of L at global keep ratio θ. */
export function keepProb(l: number, L: number, th: number): number {
  return 1 - (l / L) * (1 - th);
}

/**
 * Per-block probabilities for one step: `sample[i]` is the Bernoulli parameter of block i's gate,
 * `scale[i]` the probability its branches are divided by (1 when `rescale` is off).
 */
export function blockProbs(s: ScheduleConfig, L: number, th: number): { sample: number[]; scale: number[] } {
  const sample: number[] = [];
  const scale: number[] = [];
  for (let i = 0; i < L; i++) {
    const p = s.depth === 'uniform' ? th : keepProb(i + 1, L, th);
    // DeepSpeed samples block i with the probability the paper gives block i (0-based, i.e. one
    // position shallower) and rescales with the paper's p for block i+1.
    sample.push(s.depth === 'deepspeed' ? keepProb(i, L, th) : p);
    scale.push(s.rescale ? p : 1);
  }
  return { sample, scale };
}

/** Expected number of blocks run, Σ_i P(G_i = 1). Paper form at θ=0.5, L=12: 8.75. */
export function expectedBlocks(s: ScheduleConfig, L: number, th: number): number {
  return blockProbs(s, L, th).sample.reduce((a, b) => a + b, 0);
}

/**
 * Expected fraction of block compute run, E[blocks run]/L. All blocks have equal cost, so this is
 * also the ideal time ratio against full depth (embeddings and head excluded).
 */
export function expectedFraction(s: ScheduleConfig, L: number, th: number): number {
  return expectedBlocks(s, L, th) / L;
}

/** Gates for one training step. `keep[i]` false means block i is not computed at all. */
export interface Gates {
  theta: number;
  keep: boolean[];
  /** Divisor for block i's branches when it runs (the paper's p_l; 1 without rescale). */
  scale: number[];
}

/** Draw the gates for optimizer step t (one decision per step, shared by the whole batch). */
export function sampleGates(s: ScheduleConfig, L: number, t: number, rng: Rng): Gates {
  const th = thetaAt(s, t);
  const { sample, scale } = blockProbs(s, L, th);
  // Draw every block even when p = 1 so the RNG stream does not depend on θ.
  const keep = sample.map((p) => rng.next() < p);
  return { theta: th, keep, scale };
}

/** Gates for evaluation and for the baselines: every block runs, no rescale. */
export function fullDepth(L: number): Gates {
  return { theta: 1, keep: new Array<boolean>(L).fill(true), scale: new Array<number>(L).fill(1) };
}
