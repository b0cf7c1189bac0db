"""The kit's AdamW (src/train/optimizer.ts) and LR schedule (src/train/lr.ts).

Decoupled weight decay with per-parameter state keyed by name: a parameter without a gradient
this step (a dropped block) keeps its weights, moments and step count, as torch.optim.AdamW does
for `grad is None`. The update is torch.optim.AdamW's:
  θ ← θ·(1 − lr·λ);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  θ ← θ − lr·(m/(1−β1ᵗ))/(√(v/(1−β2ᵗ)) + ε)
with g first multiplied by the global-norm clip factor min(1, c/(‖g‖ + 1e-6)) (clip_grad_norm_).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, Set, Tuple

import torch


@dataclass
class Moments:
    m: torch.Tensor
    v: torch.Tensor
    step: int = 0


@dataclass
class AdamW:
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    decay: Set[str]
    state: Dict[str, Moments] = field(default_factory=dict)

    @torch.no_grad()
    def apply(self, params: Iterable[Tuple[str, torch.Tensor]], lr: float, grad_scale: float = 1.0) -> None:
        """One update of every named parameter that has a gradient; the others are left alone."""
        for name, p in params:
            g = p.grad
            if g is None:
                continue
            s = self.state.get(name)
            if s is None:
                s = self.state[name] = Moments(torch.zeros_like(p), torch.zeros_like(p))
            s.step += 1
            if grad_scale != 1:
                g = g * grad_scale
            s.m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            s.v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            bc1 = 1 - self.beta1**s.step
            bc2 = 1 - self.beta2**s.step
            if name in self.decay and self.weight_decay:
                p.mul_(1 - lr * self.weight_decay)
            denom = (s.v / bc2).sqrt_().add_(self.eps)
            p.addcdiv_(s.m, denom, value=-lr / bc1)


def learning_rate(peak: float, warmup_steps: int, total_steps: int, t: int) -> float:
    """Linear warmup to the peak, then linear decay to 0 at total_steps (BERT's schedule)."""
    if t < warmup_steps:
        return peak * (t + 1) / warmup_steps
    left = max(0, total_steps - t)
    span = max(1, total_steps - warmup_steps)
    return peak * left / span


def warmup_steps(warmup_fraction: float, steps: int) -> int:
    """src/train/pretrain.ts: max(1, round(fraction · steps)); JS Math.round rounds halves up."""
    return max(1, math.floor(warmup_fraction * steps + 0.5))
