"""Pretraining batches exactly as the kit makes them (src/data/masking.ts), over `pld export-data` shards.

Shards (written by src/export/data.ts): `data.json` and `<split>-NNNNN.i32` files of
little-endian int32 `n, lengths × n, tokens` for n packed sequences (content tokens only: no
[CLS]/[SEP]/padding), in the kit's order.

The batcher is the kit's PretrainBatcher: epoch e is a Fisher–Yates shuffle seeded by
(seed·1009 + e), masking is BERT's (15 %, 80/10/10, at least one token per sequence) drawn from the
batcher's own generator, so with the same seed and cursor the twin makes the kit's batches.
Every DDP rank builds the whole global batch (cheap) and keeps its slice (`shard_batch`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from .rng import Rng, to_int32

DATA_FORMAT = 1


@dataclass
class Vocab:
    size: int
    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int
    special: frozenset


@dataclass
class MlmBatch:
    """Flat [B·S] ids and mask, flat indices of the masked tokens and their original ids (the kit's MlmBatchArrays)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    masked_positions: np.ndarray
    masked_labels: np.ndarray
    batch_size: int
    seq_len: int


class Packed(Sequence[np.ndarray]):
    """Packed sequences as one token array and offsets: views, no per-sequence objects (10^7 sequences fit)."""

    def __init__(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        self.tokens = tokens
        self.offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    @staticmethod
    def concat(parts: Sequence["Packed"]) -> "Packed":
        if not parts:
            return Packed(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64))
        return Packed(np.concatenate([p.tokens for p in parts]), np.concatenate([np.diff(p.offsets) for p in parts]))


def read_shard(file: str) -> Packed:
    """One shard: int32 LE `n, lengths × n, tokens` (src/export/data.ts)."""
    raw = np.fromfile(file, dtype="<i4")
    n = int(raw[0]) if raw.size else -1
    lengths = raw[1 : 1 + n] if n >= 0 else raw[:0]
    if n < 0 or lengths.size != n or (lengths < 1).any() or int(lengths.sum(dtype=np.int64)) != raw.size - 1 - n:
        raise ValueError(f"{file} is not a valid shard (its sequence lengths do not match its size); re-run pld export-data")
    return Packed(raw[1 + n :], lengths)


@dataclass
class ExportedData:
    meta: Dict[str, Any]
    vocab: Vocab
    train: Packed
    valid: Packed


def load_export(folder: str) -> ExportedData:
    meta_file = os.path.join(folder, "data.json")
    if not os.path.exists(meta_file):
        raise FileNotFoundError(f"{folder} holds no data.json; write the shards with: pld export-data --out {folder}")
    with open(meta_file, encoding="utf8") as f:
        meta = json.load(f)
    if meta.get("format") != DATA_FORMAT:
        raise ValueError(f"{meta_file} has format {meta.get('format')}; this twin reads format {DATA_FORMAT}")
    v = meta["vocab"]
    vocab = Vocab(v["size"], v["clsId"], v["sepId"], v["padId"], v["maskId"], frozenset(v["specialIds"]))
    splits = {k: Packed.concat([read_shard(os.path.join(folder, f)) for f in meta["splits"][k]["shards"]]) for k in ("train", "valid")}
    for k, seqs in splits.items():
        if len(seqs) != meta["splits"][k]["sequences"]:
            raise ValueError(f"{folder}: split {k} has {len(seqs)} sequences, data.json says {meta['splits'][k]['sequences']}; re-run pld export-data")
    return ExportedData(meta, vocab, splits["train"], splits["valid"])


def mask_batch(seqs: Sequence[np.ndarray], seq_len: int, vocab: Vocab, mask_prob: float, rng: Rng) -> MlmBatch:
    """[CLS] x [SEP] + padding, then BERT masking in the kit's order of draws (src/data/masking.ts maskBatch)."""
    B = len(seqs)
    ids = np.full(B * seq_len, vocab.pad_id, dtype=np.int64)
    mask = np.zeros(B * seq_len, dtype=np.int64)
    positions: List[int] = []
    labels: List[int] = []
    special = vocab.special

    def random_token() -> int:
        while True:
            t = rng.int(vocab.size)
            if t not in special:
                return t

    for b, s in enumerate(seqs):
        toks = s.tolist()
        base = b * seq_len
        ids[base] = vocab.cls_id
        ids[base + 1 : base + 1 + len(toks)] = toks
        ids[base + 1 + len(toks)] = vocab.sep_id
        mask[base : base + len(toks) + 2] = 1
        chosen = [i for i, t in enumerate(toks) if t not in special and rng.next() < mask_prob]
        if not chosen:
            candidates = [i for i, t in enumerate(toks) if t not in special]
            if candidates:
                chosen.append(candidates[rng.int(len(candidates))])
        for i in chosen:
            at = base + 1 + i
            positions.append(at)
            labels.append(toks[i])
            r = rng.next()
            if r < 0.8:
                ids[at] = vocab.mask_id
            elif r < 0.9:
                ids[at] = random_token()
    return MlmBatch(ids, mask, np.array(positions, dtype=np.int64), np.array(labels, dtype=np.int64), B, seq_len)


class PretrainBatcher:
    """The kit's PretrainBatcher: endless shuffled batches; state = (epoch, index, masking RNG)."""

    def __init__(self, seqs: Sequence[np.ndarray], vocab: Vocab, batch_size: int, seq_len: int, seed: int, mask_prob: float = 0.15) -> None:
        if len(seqs) < batch_size:
            raise ValueError(f"corpus has no text for a batch: {len(seqs)} sequences but the batch size is {batch_size}")
        self.seqs, self.vocab, self.batch_size, self.seq_len, self.seed, self.mask_prob = seqs, vocab, batch_size, seq_len, seed, mask_prob
        self.epoch, self.index = 0, 0
        self.rng_state = Rng(to_int32(seed) ^ 0x5BD1E995).state
        self._order: List[int] = []
        self._order_epoch = -1

    def order_for(self, epoch: int) -> List[int]:
        if self._order_epoch != epoch:
            self._order = list(Rng(self.seed * 1009 + epoch).shuffle(list(range(len(self.seqs)))))
            self._order_epoch = epoch
        return self._order

    def next(self) -> MlmBatch:
        epoch, index = self.epoch, self.index
        rng = Rng.from_state(self.rng_state)
        picked: List[np.ndarray] = []
        while len(picked) < self.batch_size:
            order = self.order_for(epoch)
            if index >= len(order):
                epoch, index = epoch + 1, 0
                continue
            picked.append(self.seqs[order[index]])
            index += 1
        batch = mask_batch(picked, self.seq_len, self.vocab, self.mask_prob, rng)
        self.epoch, self.index, self.rng_state = epoch, index, rng.state
        return batch

    def get_state(self) -> Dict[str, Any]:
        return {"epoch": self.epoch, "index": self.index, "rng": list(self.rng_state)}

    def set_state(self, s: Mapping[str, Any]) -> None:
        self.epoch, self.index, self.rng_state = int(s["epoch"]), int(s["index"]), Rng.from_state(s["rng"]).state


def fixed_batches(seqs: Sequence[np.ndarray], vocab: Vocab, batch_size: int, seq_len: int, count: int, seed: int = 12345) -> List[MlmBatch]:
    """The kit's validation batches: the first sequences, masked with a fixed seed."""
    rng = Rng(seed)
    out = [mask_batch(seqs[b * batch_size : (b + 1) * batch_size], seq_len, vocab, 0.15, rng) for b in range(count) if (b + 1) * batch_size <= len(seqs)]
    if not out:
        raise ValueError(f"validation split has {len(seqs)} sequences, fewer than one batch of {batch_size}")
    return out


def shard_batch(b: MlmBatch, rank: int, world: int) -> MlmBatch:
    """Rank `rank`'s contiguous slice of a global batch (batch size must divide by the world size)."""
    if b.batch_size % world:
        raise ValueError(f"train.batchSize {b.batch_size} does not divide among {world} workers; use a multiple of {world}")
    per = b.batch_size // world
    lo, hi = rank * per * b.seq_len, (rank + 1) * per * b.seq_len
    keep = (b.masked_positions >= lo) & (b.masked_positions < hi)
    return MlmBatch(b.input_ids[lo:hi], b.attention_mask[lo:hi], b.masked_positions[keep] - lo, b.masked_labels[keep], per, b.seq_len)
