"""The kit's checkpoint directory (docs/checkpoint-format.md), read and written by the twin.

weights.safetensors   Hugging Face names, PyTorch layout: the model's state_dict as is
optimizer.safetensors exp_avg.<name> / exp_avg_sq.<name> in the KIT layout ([in, out] dense weights)
state.json            format 1, step, config, optimizerSteps, rng, data cursor, trainSeconds
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

import torch

from . import safetensors
from .atomic import resolve_checkpoint_dir, write_dir_atomic
from .model import BertForMlm, is_linear_weight, kit_named_parameters
from .optim import AdamW, Moments

CHECKPOINT_FORMAT = 1
PRODUCER = "pld-torch"


def read_state(ckpt: str) -> Dict[str, Any]:
    d = resolve_checkpoint_dir(ckpt)
    if d is None or not os.path.exists(os.path.join(d, "state.json")):
        raise FileNotFoundError(f"no checkpoint at {ckpt} (missing state.json); start from a kit run's checkpoint/ folder")
    with open(os.path.join(d, "state.json"), encoding="utf8") as f:
        s = json.load(f)
    if s.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {ckpt} has format {s.get('format')}, this twin reads format {CHECKPOINT_FORMAT}")
    return s


def _kit_layout(name: str, t: torch.Tensor) -> torch.Tensor:
    return t.t().contiguous() if is_linear_weight(name) and t.dim() == 2 else t


def load_weights(model: BertForMlm, file: str) -> None:
    """Every model parameter must be in the file with its shape; the tied decoder copies are ignored."""
    tensors, _ = safetensors.read(file)
    with torch.no_grad():
        for name, p in model.named_parameters():
            t = tensors.get(name)
            if t is None:
                raise ValueError(f"checkpoint {file} has no tensor {name}; it was saved from a different model config")
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"checkpoint {file}: tensor {name} has shape {list(t.shape)} but the model expects {list(p.shape)}")
            p.copy_(t)


def load_checkpoint(ckpt: str, model: BertForMlm, opt: AdamW) -> Dict[str, Any]:
    """Weights, AdamW moments and per-parameter steps into `model` / `opt`; returns state.json."""
    state = read_state(ckpt)
    d = resolve_checkpoint_dir(ckpt) or ckpt
    load_weights(model, os.path.join(d, "weights.safetensors"))
    moments, _ = safetensors.read(os.path.join(d, "optimizer.safetensors"))
    params = dict(model.named_parameters())
    opt.state.clear()
    for name, step in state["optimizerSteps"].items():
        m, v, p = moments.get(f"exp_avg.{name}"), moments.get(f"exp_avg_sq.{name}"), params.get(name)
        if m is None or v is None or p is None:
            raise ValueError(f"checkpoint {d}: optimizer state for {name} is incomplete")
        opt.state[name] = Moments(_kit_layout(name, m).to(p.device), _kit_layout(name, v).to(p.device), int(step))
    return state


def save_checkpoint(ckpt: str, model: BertForMlm, opt: AdamW, state: Dict[str, Any]) -> None:
    """`state` holds step, config, rng, data and trainSeconds; format, kitVersion and optimizerSteps are added."""
    params = kit_named_parameters(model)
    weights = safetensors.encode(params, {"format": "pt", "producer": PRODUCER, "norm": model.config.norm})
    names = [n for n, _ in params if n in opt.state]
    moments = []
    for n in names:
        s = opt.state[n]
        moments += [(f"exp_avg.{n}", _kit_layout(n, s.m)), (f"exp_avg_sq.{n}", _kit_layout(n, s.v))]
    full = {"format": CHECKPOINT_FORMAT, "kitVersion": state.get("kitVersion", PRODUCER), "optimizerSteps": {n: opt.state[n].step for n in names}, **state}
    write_dir_atomic(ckpt, {"weights.safetensors": weights, "optimizer.safetensors": safetensors.encode(moments), "state.json": json.dumps(full, indent=1).encode("utf8")})
