"""`pld bench`'s PyTorch rows: the twin's training step, timed (src/bench/throughput.ts runs this).

    python -m pld_torch.bench '<json>'    (with python/ on PYTHONPATH)

Input JSON: {layers, hidden, heads, intermediate, vocabSize, maxPositions, norm, hiddenDropout,
attentionDropout, batchSize, seqLen, threads, warmup, steps, phaseReps}.
Output, one JSON object on stdout: {torch, threads, params, msPerStep: [...], cpuPerWall,
phases: {embeddings, blocks, head, optimizer}} (the phases of src/bench/throughput.ts).

It is the same model, AdamW, clipping and per-block gradient norms as the kit's step
(pld_torch.train.train_step, one process). Threads: the caller sets OPENBLAS_NUM_THREADS=1 and
OMP_NUM_THREADS=threads: torch.set_num_threads sets PyTorch's own pool but not OpenBLAS's, which
otherwise starts one thread per core ("1 thread" ran at 181 % CPU on 2 cores), and 2 + 2 threads
oversubscribed 2 cores. One BLAS thread inside PyTorch's pool was its fastest setting.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict

import numpy as np
import torch

from .data import MlmBatch
from .model import BertForMlm, Dropout, ModelConfig
from .rng import Rng
from .schedule import full_depth
from .train import Dist, new_optimizer, to_device, train_step


def synthetic_batch(c: Dict[str, Any], rng: Rng) -> MlmBatch:
    """src/data/synthetic.ts syntheticBatch (same draws): sequence b ends in (b mod 4)·S/8 padding positions, 15 % masked."""
    B, S, V = c["batchSize"], c["seqLen"], c["vocabSize"]
    ids = np.zeros(B * S, dtype=np.int64)
    mask = np.zeros(B * S, dtype=np.int64)
    pos, labels = [], []
    for i in range(B * S):
        if i % S >= S - ((i // S) % 4) * S // 8:
            continue
        mask[i] = 1
        ids[i] = 5 + rng.int(V - 5)
        if rng.next() < 0.15:
            pos.append(i)
            labels.append(int(ids[i]))
            ids[i] = 4
    return MlmBatch(ids, mask, np.array(pos, dtype=np.int64), np.array(labels, dtype=np.int64), B, S)


def timed(fn: Callable[[], object], reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) * 1000 / reps


def main() -> None:
    c = json.loads(sys.argv[1])
    torch.set_num_threads(int(c["threads"]))
    mc = ModelConfig(c["vocabSize"], c["hidden"], c["layers"], c["heads"], c["intermediate"], c["maxPositions"], 2, c["norm"], c["hiddenDropout"], c["attentionDropout"], 0.02, 1e-12)
    model = BertForMlm(mc)
    rng = Rng(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.02)  # the kit's init drawn in Python would take longer than the timing
    opt = new_optimizer(model, {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weightDecay": 0.01})
    batch = synthetic_batch(c, rng)
    gates = full_depth(mc.layers)
    step_rng = Rng(2)

    def step() -> None:
        train_step(model, model, opt, batch, len(batch.masked_positions), gates, Dropout(step_rng), 1e-4, 1.0, Dist(), 0)

    for _ in range(c["warmup"]):
        step()
    ms = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(c["steps"]):
        t0 = time.perf_counter()
        step()
        ms.append((time.perf_counter() - t0) * 1000)
    # CPU seconds of all the process's threads per wall second: how many cores were really busy.
    cpu_per_wall = (time.process_time() - cpu0) / (time.perf_counter() - wall0)

    # Forward + backward of each part alone, on the step's shapes, summed over the blocks.
    ids, mask, positions, labels = to_device(batch, torch.device("cpu"))
    B, S, H = batch.batch_size, batch.seq_len, mc.hidden
    bias = ((1.0 - mask.float()) * -10000.0)[:, None, None, :]
    x = torch.randn(B, S, H, requires_grad=True)
    seq = torch.randn(B, S, H, requires_grad=True)
    blk = model.bert.encoder.layer[0]
    drop = Dropout(step_rng)
    pre = mc.norm == "pre"
    ln1, ln2 = blk.attention.output.LayerNorm, blk.output.LayerNorm

    def block() -> None:
        # Block 0 as the encoder runs it (residuals and LayerNorms included), times the blocks.
        if pre:
            h = x + blk.f_attn(ln1(x), bias, drop)
            y = h + blk.f_ffn(ln2(h), drop)
        else:
            h = ln1(x + blk.f_attn(x, bias, drop))
            y = ln2(h + blk.f_ffn(h, drop))
        y.backward(torch.ones_like(y))

    def embeddings() -> None:
        y = model.bert.embeddings(ids, torch.zeros_like(ids), drop, mc.hiddenDropout)
        y.backward(torch.ones_like(y))

    def head() -> None:
        out = model.bert.encoder.FinalLayerNorm(seq) if pre else seq
        torch.nn.functional.cross_entropy(model.mlm_logits(out, positions), labels).backward()

    reps = c["phaseReps"]
    phases = {"embeddings": timed(embeddings, reps), "blocks": mc.layers * timed(block, reps), "head": timed(head, reps)}
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    phases["optimizer"] = timed(lambda: opt.apply(list(model.named_parameters()), 1e-4), reps)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "params": params, "msPerStep": ms, "cpuPerWall": cpu_per_wall, "phases": phases}))


if __name__ == "__main__":
    main()
