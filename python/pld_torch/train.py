"""The twin's trainer: the kit's pretraining loop (src/train/pretrain.ts) on one process or many (torchrun).

    torchrun --nproc_per_node=N [--nnodes M ...] -m pld_torch.train --data SHARDS --out RUN_DIR

Reads top to bottom like the kit's loop: data → gates → step → log → evaluate → checkpoint.
Starts from RUN_DIR/checkpoint when there is one (a kit run, or an earlier twin run), else from
the run config in SHARDS/data.json with the kit's initialisation. Writes the kit's checkpoint
directory, log.jsonl and eval.jsonl, so the kit's `pld pretrain --resume`, `pld finetune` and the
notebooks take over where it stops.

Data parallelism: every rank draws the same global batch from the kit's batcher and keeps its
1/N slice; the loss is the sum of cross-entropies over the rank's masked tokens divided by the
masked tokens of the whole global batch, and gradients are summed over ranks, so N workers compute
the kit's one-process gradient exactly (up to float summation order). The PLD gates of a step come
from the step RNG, seeded identically on every rank, so all ranks drop the same blocks (DeepSpeed's
rule too: one gate decision per step, the same on every worker) and the dropped blocks' parameters
get no gradient anywhere.

Gradient sync (`--sync`), both computing the same steps (test/twin.test.ts checks it):
  ddp        (default) DistributedDataParallel with find_unused_parameters=True: it learns each
             step which blocks were dropped (the same on every rank, so their gradients stay None
             and AdamW skips them) and overlaps the bucketed all-reduces with the backward pass;
  allreduce  one all-reduce of the flattened gradients of the blocks that ran (plus the loss) after
             the backward pass: no graph traversal, no overlap. docs/scale-out.md: how to compare.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist

from .checkpoint import load_checkpoint, read_state, save_checkpoint
from .data import ExportedData, MlmBatch, PretrainBatcher, fixed_batches, load_export, shard_batch
from .model import BertForMlm, Dropout, ModelConfig, block_index, decays, init_like_kit
from .optim import AdamW, learning_rate, warmup_steps
from .rng import Rng
from .schedule import Gates, ScheduleConfig, expected_blocks, sample_gates


class NonFinite(Exception):
    pass


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    sync: str = "ddp"

    @property
    def active(self) -> bool:
        return self.world > 1


def to_device(b: MlmBatch, device: torch.device) -> Tuple[torch.Tensor, ...]:
    shape = (b.batch_size, b.seq_len)
    t = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return t(b.input_ids).view(shape), t(b.attention_mask).view(shape), t(b.masked_positions), t(b.masked_labels)


@dataclass
class StepResult:
    loss: float
    grad_norm: float
    block_grad_norms: List[Optional[float]]


def train_step(model: torch.nn.Module, raw: BertForMlm, opt: AdamW, batch: MlmBatch, masked_total: int, gates: Gates, drop: Dropout, lr: float, clip: float, d: Dist, step: int) -> StepResult:
    """One optimizer step on this rank's slice of the global batch (src/train/step.ts's step)."""
    device = next(raw.parameters()).device
    for p in raw.parameters():
        p.grad = None
    ids, mask, pos, labels = to_device(batch, device)
    loss_sum = model(ids, mask, pos, labels, gates, drop)
    # Mean over the global batch's masked tokens: the kit's loss, whatever the split.
    loss = loss_sum / masked_total
    named = [(n, p) for n, p in raw.named_parameters()]
    if d.active and d.sync == "ddp":
        (loss * d.world).backward()  # DDP averages over ranks; × world makes it the sum
        total = loss_sum.detach().reshape(1)
        dist.all_reduce(total)
        loss_value = float(total) / masked_total
    else:
        loss.backward()
        loss_value = float(loss_sum.detach()) / masked_total
        if d.active:
            with_grad = [p for _, p in named if p.grad is not None]
            flat = torch.cat([p.grad.reshape(-1) for p in with_grad] + [loss_sum.detach().reshape(1)])
            dist.all_reduce(flat)
            at = 0
            for p in with_grad:
                n = p.numel()
                p.grad.copy_(flat[at : at + n].view_as(p.grad))
                at += n
            loss_value = float(flat[-1]) / masked_total
    L = raw.config.layers
    sq = {n: p.grad.pow(2).sum() for n, p in named if p.grad is not None}
    block_sq = [torch.zeros((), device=device) for _ in range(L)]
    for n, s in sq.items():
        b = block_index(n)
        if b is not None:
            block_sq[b] = block_sq[b] + s
    stats = torch.stack([sum(sq.values()), *block_sq]).tolist()  # one readback
    grad_norm = math.sqrt(stats[0])
    if not math.isfinite(loss_value) or not math.isfinite(grad_norm):
        raise NonFinite(f"non-finite {'gradient norm' if math.isfinite(loss_value) else f'loss ({loss_value})'} at step {step}; training stopped (lower the learning rate or raise warmup; the last good checkpoint is kept)")
    # torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
    opt.apply(named, lr, min(1.0, clip / (grad_norm + 1e-6)))
    return StepResult(loss_value, grad_norm, [math.sqrt(stats[1 + i]) if gates.keep[i] else None for i in range(L)])


@torch.no_grad()
def eval_loss(model: BertForMlm, batches: List[MlmBatch]) -> float:
    """Validation MLM loss at full depth, no dropout, weighted by masked tokens (the kit's mlmEvalLoss)."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for b in batches:
        total += float(model(*to_device(b, device)))
        count += len(b.masked_positions)
    return total / count


def new_optimizer(model: BertForMlm, optim: Dict[str, Any]) -> AdamW:
    decay = {n for n, p in model.named_parameters() if decays(n, p)}
    return AdamW(optim["beta1"], optim["beta2"], optim["eps"], optim["weightDecay"], decay)


def check_data_matches(cfg: Dict[str, Any], data: ExportedData, where: str) -> None:
    exp = data.meta["config"]
    if json.dumps(exp["data"], sort_keys=True) != json.dumps(cfg["data"], sort_keys=True):
        raise ValueError(f"{where} was made with data settings {json.dumps(cfg['data'])} but the shards with {json.dumps(exp['data'])}; re-run pld export-data with the run's config")
    if exp["train"]["seqLen"] != cfg["train"]["seqLen"]:
        raise ValueError(f"{where} uses train.seqLen {cfg['train']['seqLen']} but the shards were packed for {exp['train']['seqLen']}; re-run pld export-data with the run's config")
    if data.vocab.size != cfg["model"]["vocabSize"]:
        raise ValueError(f"the shards' vocabulary has {data.vocab.size} tokens but model.vocabSize is {cfg['model']['vocabSize']}")


def truncate_jsonl(file: str, keep_below: int) -> None:
    """Drops records with step >= keep_below (the kit's truncateLog), so a resumed log has no duplicates."""
    if not os.path.exists(file):
        return
    with open(file, encoding="utf8") as f:
        lines = [ln for ln in f if ln.strip() and json.loads(ln)["step"] < keep_below]
    with open(file, "w", encoding="utf8") as f:
        f.writelines(lines)


def setup_dist(sync: str, device_kind: str) -> Tuple[Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    use_cuda = device_kind == "cuda" or (device_kind == "auto" and torch.cuda.is_available())
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1:
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(rank, world, sync), device


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pld_torch.train", description="Pretrain the kit's BERT in PyTorch (one process, or many under torchrun).")
    ap.add_argument("--data", required=True, help="folder written by pld export-data")
    ap.add_argument("--out", required=True, help="run folder: continues RUN/checkpoint when present")
    ap.add_argument("--steps", type=int, default=None, help="stop after this many steps of this invocation (default: to config.train.steps)")
    ap.add_argument("--sync", choices=["ddp", "allreduce"], default="ddp", help="gradient sync across workers (default ddp)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    d, device = setup_dist(a.sync, a.device)
    try:
        return run(a, d, device)
    except (ValueError, FileNotFoundError, NonFinite) as e:
        print(f"pld_torch.train: {e}", file=sys.stderr)
        return 1
    finally:
        if d.active:
            dist.destroy_process_group()


def run(a: argparse.Namespace, d: Dist, device: torch.device) -> int:
    data = load_export(a.data)
    ckpt_dir = os.path.join(a.out, "checkpoint")
    resume = os.path.exists(os.path.join(ckpt_dir, "state.json")) or os.path.exists(os.path.join(ckpt_dir + ".old", "state.json"))
    cfg = read_state(ckpt_dir)["config"] if resume else data.meta["config"]
    check_data_matches(cfg, data, ckpt_dir if resume else a.data)
    mc = ModelConfig.from_json(cfg["model"])
    sched = ScheduleConfig.from_json(cfg["schedule"])
    tc, oc = cfg["train"], cfg["optim"]

    # The kit's streams (src/train/pretrain.ts initTraining): init, then training, then the batcher's seed.
    rng = Rng(cfg["seed"])
    model = BertForMlm(mc)
    init_rng = rng.fork()
    if not resume and d.rank == 0:
        init_like_kit(model, init_rng)  # one draw of every weight (minutes at BERT-base size), then sent to all
    model.to(device)
    if not resume and d.active:
        for p in model.parameters():
            dist.broadcast(p.data, 0)
    opt = new_optimizer(model, oc)
    step_rng = rng.fork()
    batcher = PretrainBatcher(data.train, data.vocab, tc["batchSize"], tc["seqLen"], step_rng.fork().next_uint32())
    start, train_seconds = 0, 0.0
    if resume:
        s = load_checkpoint(ckpt_dir, model, opt)
        start, train_seconds = s["step"], s["trainSeconds"]
        step_rng = Rng.from_state(s["rng"])
        batcher.set_state(s["data"]["data"])
    valid = fixed_batches(data.valid, data.vocab, tc["batchSize"], tc["seqLen"], tc["evalBatches"])
    end = min(tc["steps"], start + (a.steps if a.steps is not None else tc["steps"]))
    if tc["batchSize"] % d.world:
        raise ValueError(f"train.batchSize {tc['batchSize']} does not divide among {d.world} workers; use a multiple of {d.world}")

    net: torch.nn.Module = model
    if d.active and d.sync == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
    lead = d.rank == 0
    log_file, eval_file = os.path.join(a.out, "log.jsonl"), os.path.join(a.out, "eval.jsonl")
    if lead:
        os.makedirs(a.out, exist_ok=True)
        truncate_jsonl(log_file, start)
        truncate_jsonl(eval_file, start + 1)
        if not a.quiet:
            print(f"pld_torch: {cfg['variant']} {sum(p.numel() for p in model.parameters())} parameters on {d.world} × {device.type} (sync {d.sync}); steps {start} → {end}", file=sys.stderr)
    L = mc.layers
    warm = warmup_steps(oc["warmupFraction"], tc["steps"])
    last_val = None
    for step in range(start, end):
        batch = batcher.next()
        gates = sample_gates(sched, L, step, step_rng)
        lr = learning_rate(oc["lr"], warm, tc["steps"], step)
        t0 = time.perf_counter()
        r = train_step(net, model, opt, shard_batch(batch, d.rank, d.world), len(batch.masked_positions), gates, Dropout(step_rng, d.rank), lr, oc["clipNorm"], d, step)
        dt = time.perf_counter() - t0
        train_seconds += dt
        done = step + 1
        every = tc["gradNormEvery"]
        if lead:
            rec = {"step": step, "lr": lr, "loss": r.loss, "theta": gates.theta, "expectedBlocks": expected_blocks(sched, L, gates.theta), "blocksRun": sum(gates.keep),
                   "samplesPerSec": tc["batchSize"] / dt, "trainSeconds": train_seconds, "gradNorm": r.grad_norm,
                   "blockGradNorms": r.block_grad_norms if every > 0 and step % every == 0 else None}
            with open(log_file, "a", encoding="utf8") as f:
                f.write(json.dumps(rec) + "\n")
            if not a.quiet:
                print(f"step {done}/{tc['steps']} loss {r.loss:.4f} θ {gates.theta:.3f} blocks {sum(gates.keep)}/{L}", file=sys.stderr)
            if done % tc["evalEvery"] == 0 or done == tc["steps"]:
                last_val = eval_loss(model, valid)
                with open(eval_file, "a", encoding="utf8") as f:
                    f.write(json.dumps({"step": done, "valLoss": last_val, "trainSeconds": train_seconds}) + "\n")
            if (tc["checkpointEvery"] > 0 and done % tc["checkpointEvery"] == 0) or done in (tc["steps"], end):
                save_checkpoint(ckpt_dir, model, opt, {"step": done, "config": cfg, "rng": list(step_rng.state), "data": {"data": batcher.get_state()}, "trainSeconds": train_seconds})
    if lead and not a.quiet:
        print(f"pld_torch: stopped at step {end}; checkpoint in {ckpt_dir}" + (f"; validation loss {last_val:.4f}" if last_val is not None else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
