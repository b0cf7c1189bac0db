"""The kit's MLM training step in PyTorch, for `npm run bench`'s side-by-side comparison.

Optional tooling, never a runtime dependency: src/bench/throughput.ts runs this script when
`import torch` works and reads one JSON object from stdout. The model mirrors src/model/bert.ts
(PreLN or PostLN BERT, Hugging Face layout, exact GELU, dropout 0.1, MLM head on the masked
positions only with a decoder tied to the word embeddings) and the step mirrors src/train/step.ts
(per-block gradient norms, global-norm clipping at 1.0, AdamW with decay on weights only), so
both sides do the same arithmetic.

Input (argv[1]): JSON {layers, hidden, heads, intermediate, vocabSize, maxPositions, norm,
hiddenDropout, attentionDropout, batchSize, seqLen, threads, warmup, steps, phaseReps}.
Output: {torch, threads, params, msPerStep: [...], cpuPerWall, phases: {embeddings, blocks, head, optimizer}}.

Threads: the caller sets OPENBLAS_NUM_THREADS=1 and OMP_NUM_THREADS=threads. torch.set_num_threads
sets PyTorch's own (OpenMP) pool but not OpenBLAS's, which otherwise starts one thread per core:
"1 thread" then ran on 2 cores here (181 % CPU), and 2 + 2 threads oversubscribed 2 cores
(~2× slower than either alone). One BLAS thread inside PyTorch's pool was its fastest setting.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden"]
        self.heads = c["heads"]
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.out = nn.Linear(H, H)
        self.attn_drop = nn.Dropout(c["attentionDropout"])
        self.drop = nn.Dropout(c["hiddenDropout"])

    def forward(self, x, bias):
        B, S, H = x.shape
        nh, dh = self.heads, H // self.heads
        q = self.query(x).view(B, S, nh, dh).transpose(1, 2)  # [B, nh, S, dh]
        k = self.key(x).view(B, S, nh, dh).transpose(1, 2)
        v = self.value(x).view(B, S, nh, dh).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh) + bias  # [B, nh, S, S]
        probs = self.attn_drop(scores.softmax(-1))
        ctx = (probs @ v).transpose(1, 2).reshape(B, S, H)
        return self.drop(self.out(ctx))


class FeedForward(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.inner = nn.Linear(c["hidden"], c["intermediate"])
        self.outer = nn.Linear(c["intermediate"], c["hidden"])
        self.drop = nn.Dropout(c["hiddenDropout"])

    def forward(self, x):
        return self.drop(self.outer(F.gelu(self.inner(x))))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pre = c["norm"] == "pre"
        self.attn = Attention(c)
        self.ffn = FeedForward(c)
        self.ln1 = nn.LayerNorm(c["hidden"], eps=1e-12)
        self.ln2 = nn.LayerNorm(c["hidden"], eps=1e-12)

    def forward(self, x, bias):
        if self.pre:
            h = x + self.attn(self.ln1(x), bias)
            return h + self.ffn(self.ln2(h))
        h = self.ln1(x + self.attn(x, bias))
        return self.ln2(h + self.ffn(h))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden"]
        self.pre = c["norm"] == "pre"
        self.word = nn.Embedding(c["vocabSize"], H)
        self.pos = nn.Embedding(c["maxPositions"], H)
        self.segment = nn.Embedding(2, H)
        self.emb_ln = nn.LayerNorm(H, eps=1e-12)
        self.drop = nn.Dropout(c["hiddenDropout"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.final_ln = nn.LayerNorm(H, eps=1e-12)
        self.transform = nn.Linear(H, H)
        self.head_ln = nn.LayerNorm(H, eps=1e-12)
        self.decoder_bias = nn.Parameter(torch.zeros(c["vocabSize"]))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def embed(self, ids):
        B, S = ids.shape
        pos = torch.arange(S).expand(B, S)
        x = self.word(ids) + self.pos(pos) + self.segment(torch.zeros_like(ids))
        return self.drop(self.emb_ln(x))

    def head(self, seq, positions, labels):
        h = seq.reshape(-1, seq.shape[-1])[positions]
        t = self.head_ln(F.gelu(self.transform(h)))
        logits = t @ self.word.weight.t() + self.decoder_bias
        return F.cross_entropy(logits, labels)

    def forward(self, ids, mask, positions, labels):
        bias = ((1.0 - mask.float()) * -10000.0).view(mask.shape[0], 1, 1, -1)
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x, bias)
        if self.pre:
            x = self.final_ln(x)
        return self.head(x, positions, labels)


def make_optimizer(model, lr=1e-4):
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    rest = [p for n, p in model.named_parameters() if p.dim() <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=lr, eps=1e-6)


def train_step(model, opt, batch):
    opt.zero_grad(set_to_none=True)
    loss = model(*batch)
    loss.backward()
    # Per-block squared gradient norms and the global norm, read back once (as src/train/step.ts).
    with torch.no_grad():
        block_sq = [sum(p.grad.pow(2).sum() for p in b.parameters()) for b in model.blocks]
        stats = torch.stack([loss.detach(), *block_sq]).tolist()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return stats[0]


def synthetic_batch(c, gen):
    """Random tokens, 15 % masked, sequence b ending in (b mod 4)·S/8 padding positions (as src/bench/throughput.ts)."""
    B, S, V = c["batchSize"], c["seqLen"], c["vocabSize"]
    pad = torch.tensor([(b % 4) * S // 8 for b in range(B)])
    mask = (torch.arange(S).expand(B, S) < (S - pad).unsqueeze(1)).long()
    ids = torch.randint(5, V, (B, S), generator=gen) * mask
    masked = (torch.rand(B * S, generator=gen) < 0.15) & (mask.flatten() == 1)
    positions = masked.nonzero().flatten()
    labels = ids.flatten()[positions].clone()
    ids.view(-1)[positions] = 4
    return ids, mask, positions, labels


def timed(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) * 1000 / reps


def phase_times(model, opt, batch, c, reps):
    """Forward + backward of each part alone, on the step's shapes, summed over the blocks."""
    ids, mask, positions, labels = batch
    B, S, H = c["batchSize"], c["seqLen"], c["hidden"]
    bias = ((1.0 - mask.float()) * -10000.0).view(B, 1, 1, S)
    x = torch.randn(B, S, H, requires_grad=True)
    seq = torch.randn(B, S, H, requires_grad=True)
    blk = model.blocks[0]

    def block():
        y = blk(x, bias)
        y.backward(torch.ones_like(y))

    def embeddings():
        y = model.embed(ids)
        y.backward(torch.ones_like(y))

    def head():
        model.head(model.final_ln(seq) if model.pre else seq, positions, labels).backward()

    out = {
        "embeddings": timed(embeddings, reps),
        "blocks": c["layers"] * timed(block, reps),
        "head": timed(head, reps),
    }
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    out["optimizer"] = timed(opt.step, reps)
    return out


def main():
    c = json.loads(sys.argv[1])
    torch.set_num_threads(int(c["threads"]))
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = Bert(c)
    model.train()
    opt = make_optimizer(model)
    batch = synthetic_batch(c, gen)
    for _ in range(c["warmup"]):
        train_step(model, opt, batch)
    ms = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(c["steps"]):
        t0 = time.perf_counter()
        train_step(model, opt, batch)
        ms.append((time.perf_counter() - t0) * 1000)
    # CPU seconds of all the process's threads per wall second: how many cores were really busy.
    cpu_per_wall = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    phases = phase_times(model, opt, batch, c, c["phaseReps"])
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "params": params, "msPerStep": ms, "cpuPerWall": cpu_per_wall, "phases": phases}))


if __name__ == "__main__":
    main()
