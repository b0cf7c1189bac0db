"""pld_torch: the kit's Switchable-Transformer BERT, schedule, AdamW, masking and checkpoints in PyTorch.

One PyTorch implementation for three jobs: the parity tests against the kit (test/twin.test.ts),
`pld bench`'s PyTorch rows (`python -m pld_torch.bench`) and training on many GPUs with torchrun
(`python -m pld_torch.train`, docs/scale-out.md). Dependencies: torch and NumPy only.

Modules: rng (the kit's sfc32 generator, bit for bit), schedule (θ(t), p_l, gates), model (PostLN /
PreLN / PLD BERT with Hugging Face names), optim (the kit's AdamW and LR schedule), data (the kit's
masking and batcher over `pld export-data` shards), safetensors + checkpoint (the kit's checkpoint
directory, both ways), train (the torchrun trainer), bench (the bench's timed step).
"""
