"""The kit's Switchable-Transformer BERT (src/model/bert.ts) in PyTorch: PostLN, PreLN and PLD gates.

Parameter names are the kit's checkpoint names, which are Hugging Face BERT's
(`bert.encoder.layer.3.attention.self.query.weight`, ...), in PyTorch's [out, in] layout, so
`state_dict()` is the kit's weights.safetensors as is. Where the twin follows whom:
  - PostLN block: transformers' BertLayer (LN after each residual sum), exact-erf GELU, −10000
    additive attention mask, LayerNorm ε 1e-12, MLM head with its decoder tied to the word embeddings;
  - PreLN block: DeepSpeed's modelingpreln.py (LN on each sublayer's input, a final LN after the
    last block; its PreAttentionLayerNorm / PostAttentionLayerNorm are the kit's
    attention.output.LayerNorm / output.LayerNorm);
  - gates: the paper's Switchable-Transformer, h = x + G·f_ATTN(LN(x))/p, out = h + G·f_FFN(LN(h))/p;
    G = 0 skips the block (nothing computed, no gradient), the rescale touches only the branches;
    evaluation runs every block without rescale.
Dropout draws one seed per dropout site from the step's Rng, in the kit's order (embeddings, then
per kept block: attention probabilities, attention output, FFN output), so the kit's RNG stream and
therefore the next steps' gates stay identical; the masks themselves come from torch's generator
and differ from the kit's (as the kit's own native and tfjs dropouts differ from each other).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rng import Rng
from .schedule import Gates, full_depth


@dataclass(frozen=True)
class ModelConfig:
    """src/model/config.ts's ModelConfig, same field names (read from the kit's state.json)."""

    vocabSize: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    maxPositions: int
    typeVocab: int
    norm: str  # 'post' | 'pre'
    hiddenDropout: float
    attentionDropout: float
    initStd: float
    layerNormEps: float

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "ModelConfig":
        names = [f.name for f in fields(ModelConfig)]
        missing = [n for n in names if n not in d]
        if missing:
            raise ValueError(f"model config lacks {', '.join(missing)}")
        c = ModelConfig(**{n: d[n] for n in names})
        if c.norm not in ("post", "pre"):
            raise ValueError(f"model.norm must be 'post' or 'pre', got {c.norm!r}")
        if c.hidden % c.heads:
            raise ValueError(f"model.hidden ({c.hidden}) must be divisible by model.heads ({c.heads})")
        return c


@dataclass
class Dropout:
    """Seeded dropout for one forward pass: a seed per site from the step's Rng (the kit's order)."""

    rng: Optional[Rng]
    salt: int = 0  # the rank: every worker drops different units of its own examples

    def __call__(self, x: torch.Tensor, rate: float) -> torch.Tensor:
        if rate == 0 or self.rng is None:
            return x
        seed = self.rng.next_uint32()
        g = torch.Generator(device=x.device)
        g.manual_seed(seed + (self.salt << 32))
        # torch's own dropout (at::native::dropout) in the same two passes, with a seeded generator.
        noise = torch.empty_like(x).bernoulli_(1 - rate, generator=g).div_(1 - rate)
        return x * noise


NO_DROPOUT = Dropout(None)


class Embeddings(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocabSize, c.hidden)
        self.position_embeddings = nn.Embedding(c.maxPositions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.typeVocab, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layerNormEps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor, drop: Dropout, rate: float) -> torch.Tensor:
        S = ids.shape[1]
        pos = torch.arange(S, device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types)
        return drop(self.LayerNorm(x), rate)  # [B, S, H]


class SelfAttention(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.heads = c.heads
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)


class AttentionOutput(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.hidden)
        # PostLN: LN(x + attn(x)). PreLN: LN on the attention input (DeepSpeed's PreAttentionLayerNorm).
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layerNormEps)


class Attention(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = AttentionOutput(c)


class Intermediate(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.intermediate)


class Output(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.intermediate, c.hidden)
        # PostLN: LN(h + ffn(h)). PreLN: LN on the FFN input (DeepSpeed's PostAttentionLayerNorm).
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layerNormEps)


class Block(nn.Module):
    """One Switchable-Transformer block; registration order = the kit's parameter order."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.c = c
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = Output(c)

    def f_attn(self, h: torch.Tensor, bias: torch.Tensor, drop: Dropout) -> torch.Tensor:
        """Multi-head self-attention and its projection, [B, S, H] → [B, S, H]."""
        a = self.attention
        B, S, H = h.shape
        nh = self.c.heads
        dh = H // nh
        q, k, v = (m(h).view(B, S, nh, dh).transpose(1, 2) for m in (a.self.query, a.self.key, a.self.value))  # [B, nh, S, dh]
        probs = drop(torch.softmax((q @ k.transpose(-1, -2)) * (1 / math.sqrt(dh)) + bias, dim=-1), self.c.attentionDropout)  # [B, nh, S, S]
        ctx = (probs @ v).transpose(1, 2).reshape(B, S, H)
        return drop(a.output.dense(ctx), self.c.hiddenDropout)

    def f_ffn(self, h: torch.Tensor, drop: Dropout) -> torch.Tensor:
        return drop(self.output.dense(F.gelu(self.intermediate.dense(h))), self.c.hiddenDropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, p: float, drop: Dropout) -> torch.Tensor:
        ln_attn, ln_ffn = self.attention.output.LayerNorm, self.output.LayerNorm

        def branch(t: torch.Tensor) -> torch.Tensor:
            return t if p == 1 else t / p  # the paper's 1/p on the branch only, never the residual

        if self.c.norm == "pre":
            # PreLN:  h = x + G·f_ATTN(LN(x))/p ;  out = h + G·f_FFN(LN(h))/p
            h = x + branch(self.f_attn(ln_attn(x), bias, drop))
            return h + branch(self.f_ffn(ln_ffn(h), drop))
        # PostLN: h = LN(x + G·f_ATTN(x)/p) ;  out = LN(h + G·f_FFN(h)/p)  (original BERT)
        h = ln_attn(x + branch(self.f_attn(x, bias, drop)))
        return ln_ffn(h + branch(self.f_ffn(h, drop)))


class Encoder(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Block(c) for _ in range(c.layers))
        if c.norm == "pre":
            self.FinalLayerNorm = nn.LayerNorm(c.hidden, eps=c.layerNormEps)


class BertBody(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)


class Transform(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.layerNormEps)


class Predictions(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.transform = Transform(c)
        # The decoder weight is tied to the word embeddings; only its bias is a parameter.
        self.bias = nn.Parameter(torch.zeros(c.vocabSize))


class MlmHead(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.predictions = Predictions(c)


class BertForMlm(nn.Module):
    """The kit's pretraining model. `forward` returns the summed MLM cross-entropy (see `mlm_loss_sum`)."""

    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.config = c
        self.bert = BertBody(c)
        self.cls = MlmHead(c)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor, types: Optional[torch.Tensor] = None, gates: Optional[Gates] = None, drop: Dropout = NO_DROPOUT) -> torch.Tensor:
        """Encoder output [B, S, H]; gates None = full depth, no rescale (evaluation)."""
        c = self.config
        g = gates or full_depth(c.layers)
        types = torch.zeros_like(ids) if types is None else types
        bias = ((1.0 - mask.to(torch.float32)) * -10000.0)[:, None, None, :]  # [B, 1, 1, S]: BERT's additive mask
        x = self.bert.embeddings(ids, types, drop, c.hiddenDropout)
        for i, block in enumerate(self.bert.encoder.layer):
            if not g.keep[i]:
                continue  # G = 0: the block is the identity and nothing in it is computed
            x = block(x, bias, g.scale[i], drop)
        if c.norm == "pre":
            x = self.bert.encoder.FinalLayerNorm(x)
        return x

    def mlm_logits(self, seq: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits at the masked positions only ([M, V]); tied decoder: t @ Eᵀ + b."""
        p = self.cls.predictions
        h = seq.reshape(-1, seq.shape[-1])[positions]
        t = p.transform.LayerNorm(F.gelu(p.transform.dense(h)))
        return t @ self.bert.embeddings.word_embeddings.weight.t() + p.bias

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, labels: torch.Tensor, gates: Optional[Gates] = None, drop: Dropout = NO_DROPOUT) -> torch.Tensor:
        logits = self.mlm_logits(self.encode(ids, mask, None, gates, drop), positions)
        return F.cross_entropy(logits, labels, reduction="sum")


def decays(name: str, p: torch.Tensor) -> bool:
    """AdamW weight decay on dense weights and embeddings, not on biases or LayerNorm (BERT, kit)."""
    return not name.endswith("bias") and "LayerNorm" not in name


LINEAR_WEIGHT = re.compile(
    r"^(?:bert\.encoder\.layer\.\d+\.(?:attention\.self\.(?:query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"
    r"|bert\.pooler\.dense|cls\.predictions\.transform\.dense|cls\.predictions\.decoder|classifier)\.weight$"
)


def is_linear_weight(name: str) -> bool:
    """Dense weights: [out, in] in PyTorch and files, [in, out] in the kit (src/checkpoint/hf-names.ts)."""
    return LINEAR_WEIGHT.match(name) is not None


def kit_named_parameters(model: BertForMlm) -> List[Tuple[str, nn.Parameter]]:
    """Parameters in the kit's order (src/checkpoint/hf-names.ts bertParameterShapes): PyTorch lists a
    module's own parameters before its children's, which would put cls.predictions.bias before the transform."""
    named = list(model.named_parameters())
    return [x for x in named if x[0] != "cls.predictions.bias"] + [x for x in named if x[0] == "cls.predictions.bias"]


def init_like_kit(model: BertForMlm, rng: Rng) -> None:
    """The kit's createBert: N(0, initStd) drawn in parameter order and in the kit's [in, out] layout, zero biases, LN γ = 1."""
    std = model.config.initStd
    with torch.no_grad():
        for name, p in kit_named_parameters(model):
            if name.endswith("LayerNorm.weight"):
                p.fill_(1)
            elif name.endswith("bias"):
                p.zero_()
            else:
                kit_shape = list(reversed(p.shape)) if is_linear_weight(name) else list(p.shape)
                vals = (torch.tensor(rng.normals(p.numel()), dtype=torch.float64) * std).to(torch.float32).view(kit_shape)
                p.copy_(vals.t() if is_linear_weight(name) else vals)


def block_index(name: str) -> Optional[int]:
    prefix = "bert.encoder.layer."
    if not name.startswith(prefix):
        return None
    return int(name[len(prefix):].split(".", 1)[0])
