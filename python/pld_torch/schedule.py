"""Progressive Layer Dropping schedule, ported from src/schedule.ts (same functions, same draws).

θ(t) = (1 − θ̄)·exp(−γ·t) + θ̄ (paper §4; DeepSpeed's progressive_layer_drop.py `_prob`);
p_l = 1 − (l/L)·(1 − θ) for block l = 1..L (paper). The 'deepspeed' depth rule is
DeepSpeedExamples' modelingpreln_layerdrop.py: sample block i (0-based) with 1 − i(1−θ)/L,
rescale with the paper's p of block i+1. 'uniform' is LayerDrop (p = θ for every block).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Mapping

from .rng import Rng


@dataclass(frozen=True)
class ScheduleConfig:
    thetaBar: float
    gamma: float
    depth: str  # 'paper' | 'deepspeed' | 'uniform'
    rescale: bool
    constantTheta: bool

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ScheduleConfig":
        c = ScheduleConfig(float(d["thetaBar"]), float(d["gamma"]), str(d["depth"]), bool(d["rescale"]), bool(d["constantTheta"]))
        if not (0 < c.thetaBar <= 1):
            raise ValueError(f"schedule thetaBar must be in (0, 1], got {c.thetaBar}")
        if c.depth not in ("paper", "deepspeed", "uniform"):
            raise ValueError(f"schedule depth must be paper, deepspeed or uniform, got {c.depth!r}")
        return c


NO_DROP = ScheduleConfig(1.0, 0.0, "paper", True, False)
PLD_DEFAULT = ScheduleConfig(0.5, 0.001, "paper", True, False)


def theta(t: float, theta_bar: float, gamma: float) -> float:
    return (1 - theta_bar) * math.exp(-gamma * t) + theta_bar


def theta_at(s: ScheduleConfig, t: float) -> float:
    return s.thetaBar if s.constantTheta else theta(t, s.thetaBar, s.gamma)


def keep_prob(l: int, L: int, th: float) -> float:
    """Paper: keep probability of block l (1-based) of L."""
    return 1 - (l / L) * (1 - th)


def block_probs(s: ScheduleConfig, L: int, th: float) -> tuple[List[float], List[float]]:
    sample: List[float] = []
    scale: List[float] = []
    for i in range(L):
        p = th if s.depth == "uniform" else keep_prob(i + 1, L, th)
        sample.append(keep_prob(i, L, th) if s.depth == "deepspeed" else p)
        scale.append(p if s.rescale else 1.0)
    return sample, scale


def expected_blocks(s: ScheduleConfig, L: int, th: float) -> float:
    return sum(block_probs(s, L, th)[0])


@dataclass(frozen=True)
class Gates:
    theta: float
    keep: List[bool]
    #: divisor of block i's branches when it runs (the paper's p_l; 1 without rescale)
    scale: List[float]


def sample_gates(s: ScheduleConfig, L: int, t: int, rng: Rng) -> Gates:
    """One decision per optimizer step; every block is drawn even at p = 1 so the stream does not depend on θ."""
    th = theta_at(s, t)
    sample, scale = block_probs(s, L, th)
    keep = [rng.next() < p for p in sample]
    return Gates(th, keep, scale)


def full_depth(L: int) -> Gates:
    return Gates(1.0, [True] * L, [1.0] * L)
