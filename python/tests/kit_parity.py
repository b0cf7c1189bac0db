"""The twin's side of test/twin.test.ts: reads one JSON request on stdin, prints one JSON answer.

  {"cmd": "draws", ...}   the ported generator, schedule, masking and batcher, for stream comparisons
  {"cmd": "logits", ...}  MLM logits of a kit checkpoint at full depth and under given gates
  {"cmd": "init", ...}    the kit's initialisation of a model config, as a checkpoint
  {"cmd": "train", ...}   N steps of the twin's train_step from a kit checkpoint on the kit's
                          batcher and gates (dropout 0); writes the final checkpoint
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pld_torch.checkpoint import load_checkpoint, load_weights, read_state, save_checkpoint  # noqa: E402
from pld_torch.data import PretrainBatcher, Vocab, fixed_batches  # noqa: E402
from pld_torch.model import BertForMlm, Dropout, ModelConfig, init_like_kit  # noqa: E402
from pld_torch.optim import learning_rate  # noqa: E402
from pld_torch.rng import Rng  # noqa: E402
from pld_torch.schedule import Gates, ScheduleConfig, sample_gates  # noqa: E402
from pld_torch.train import Dist, new_optimizer, train_step  # noqa: E402


def vocab(v):
    return Vocab(v["size"], v["clsId"], v["sepId"], v["padId"], v["maskId"], frozenset(v["specialIds"]))


def batch_json(b):
    return {"inputIds": b.input_ids.tolist(), "attentionMask": b.attention_mask.tolist(), "maskedPositions": b.masked_positions.tolist(), "maskedLabels": b.masked_labels.tolist()}


def draws(q):
    out = {"uint32": [], "normal": [], "shuffle": [], "fork": [], "gates": [], "batches": [], "fixed": []}
    for seed in q["seeds"]:
        r = Rng(seed)
        out["uint32"].append([r.next_uint32() for _ in range(q["n"])])
        out["normal"].append([r.normal() for _ in range(q["n"])])
        out["shuffle"].append(list(r.shuffle(list(range(q["shuffleN"])))))
        out["fork"].append(list(r.fork().state))
    for g in q["gates"]:
        s, r = ScheduleConfig.from_json(g["schedule"]), Rng(g["seed"])
        out["gates"].append([sample_gates(s, g["L"], t, r).keep for t in range(g["steps"])])
    b = q["batcher"]
    seqs = [np.array(s) for s in b["seqs"]]
    batcher = PretrainBatcher(seqs, vocab(b["vocab"]), b["batchSize"], b["seqLen"], b["seed"])
    out["batches"] = [batch_json(batcher.next()) for _ in range(b["count"])]
    out["batcherState"] = batcher.get_state()
    out["fixed"] = [batch_json(x) for x in fixed_batches(seqs, vocab(b["vocab"]), b["batchSize"], b["seqLen"], 2)]
    return out


def model_of(ckpt):
    return BertForMlm(ModelConfig.from_json(read_state(ckpt)["config"]["model"]))


def logits(q):
    m = model_of(q["checkpoint"])
    load_weights(m, os.path.join(q["checkpoint"], "weights.safetensors"))
    shape = (q["batchSize"], q["seqLen"])
    ids, mask, types = (torch.tensor(q[k]).view(shape) for k in ("inputIds", "attentionMask", "tokenTypeIds"))
    pos = torch.tensor(q["maskedPositions"])
    res = {}
    with torch.no_grad():
        res["full"] = m.mlm_logits(m.encode(ids, mask, types), pos).flatten().tolist()
        g = q.get("gates")
        if g:
            res["gated"] = m.mlm_logits(m.encode(ids, mask, types, Gates(g["theta"], g["keep"], g["scale"]), Dropout(None)), pos).flatten().tolist()
    return res


def init(q):
    """The kit's initialisation (createBert with Rng(seed).fork()), saved as a step-0 checkpoint."""
    m = BertForMlm(ModelConfig.from_json(q["model"]))
    init_like_kit(m, Rng(q["seed"]).fork())
    save_checkpoint(q["out"], m, new_optimizer(m, q["optim"]), {"step": 0, "config": {"model": q["model"]}, "rng": [0, 0, 0, 1], "data": {}, "trainSeconds": 0})
    return {}


def train(q):
    m = model_of(q["checkpoint"])
    opt = new_optimizer(m, q["optim"])
    load_checkpoint(q["checkpoint"], m, opt)
    b = q["batcher"]
    batcher = PretrainBatcher([np.array(s) for s in b["seqs"]], vocab(b["vocab"]), b["batchSize"], b["seqLen"], b["seed"])
    step_rng = Rng(q["stepSeed"])
    sched = ScheduleConfig.from_json(q["schedule"])
    losses, blocks = [], []
    for t in range(q["steps"]):
        batch = batcher.next()
        gates = sample_gates(sched, m.config.layers, t, step_rng)
        lr = learning_rate(q["lr"], q["warmup"], q["steps"], t)
        r = train_step(m, m, opt, batch, len(batch.masked_positions), gates, Dropout(step_rng), lr, q["clip"], Dist(), t)
        losses.append(r.loss)
        blocks.append(sum(gates.keep))
    save_checkpoint(q["out"], m, opt, {"step": q["steps"], "config": read_state(q["checkpoint"])["config"], "rng": list(step_rng.state), "data": {"data": batcher.get_state()}, "trainSeconds": 0})
    return {"losses": losses, "blocks": blocks}


if __name__ == "__main__":
    req = json.load(sys.stdin)
    torch.set_num_threads(1)
    print(json.dumps({"draws": draws, "logits": logits, "init": init, "train": train}[req["cmd"]](req)))
