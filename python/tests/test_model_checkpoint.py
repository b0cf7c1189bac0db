"""The twin's model, AdamW and checkpoint files on their own (parity with the kit: test/twin.test.ts)."""
import os
import tempfile
import unittest

import numpy as np
import torch

from pld_torch import safetensors
from pld_torch.checkpoint import load_checkpoint, read_state, save_checkpoint
from pld_torch.data import MlmBatch, Packed, Vocab, mask_batch, read_shard, shard_batch
from pld_torch.model import BertForMlm, ModelConfig, init_like_kit, is_linear_weight, kit_named_parameters
from pld_torch.optim import learning_rate, warmup_steps
from pld_torch.rng import Rng
from pld_torch.schedule import Gates, full_depth
from pld_torch.train import Dist, new_optimizer, train_step, Dropout

OPTIM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weightDecay": 0.01}


def tiny(norm: str = "pre", dropout: float = 0.0) -> ModelConfig:
    return ModelConfig(50, 16, 3, 2, 32, 16, 2, norm, dropout, dropout, 0.2, 1e-12)


def batch(rng: Rng, B: int = 4, S: int = 10) -> MlmBatch:
    seqs = [np.array([5 + rng.int(45) for _ in range(S - 2 - (b % 3))]) for b in range(B)]
    return mask_batch(seqs, S, Vocab(50, 2, 3, 0, 4, frozenset(range(5))), 0.3, rng)


def model(norm: str = "pre", seed: int = 1) -> BertForMlm:
    m = BertForMlm(tiny(norm))
    init_like_kit(m, Rng(seed))
    return m


class ModelTest(unittest.TestCase):
    def test_parameter_names_are_the_kits(self) -> None:
        names = [n for n, _ in kit_named_parameters(model("pre"))]
        self.assertEqual(names[:5], ["bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight", "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias"])
        self.assertEqual(len(names), 5 + 16 * 3 + 2 + 5)  # embeddings, blocks, PreLN final LN, MLM head
        self.assertIn("bert.encoder.FinalLayerNorm.weight", names)
        self.assertNotIn("bert.encoder.FinalLayerNorm.weight", [n for n, _ in model("post").named_parameters()])
        self.assertEqual(names[-1], "cls.predictions.bias")
        self.assertTrue(is_linear_weight("bert.encoder.layer.2.intermediate.dense.weight"))
        self.assertFalse(is_linear_weight("bert.embeddings.word_embeddings.weight"))

    def test_gates_all_kept_without_rescale_equal_full_depth(self) -> None:
        m = model("pre")
        b = batch(Rng(3))
        ids = torch.from_numpy(b.input_ids).view(4, 10)
        mask = torch.from_numpy(b.attention_mask).view(4, 10)
        full = m.encode(ids, mask)
        gated = m.encode(ids, mask, gates=Gates(1.0, [True] * 3, [1.0] * 3))
        self.assertTrue(torch.equal(full, gated))

    def test_a_dropped_block_is_skipped_and_gets_no_gradient(self) -> None:
        m = model("pre")
        b = batch(Rng(4))
        opt = new_optimizer(m, OPTIM)
        before = {n: p.detach().clone() for n, p in m.named_parameters()}
        gates = Gates(0.5, [True, False, True], [0.9, 0.8, 0.7])
        train_step(m, m, opt, b, len(b.masked_positions), gates, Dropout(Rng(1)), 1e-3, 1.0, Dist(), 0)
        for n, p in m.named_parameters():
            moved = not torch.equal(before[n], p.detach())
            self.assertEqual(moved, not n.startswith("bert.encoder.layer.1."), n)
        self.assertNotIn("bert.encoder.layer.1.attention.self.query.weight", opt.state)

    def test_overfits_one_batch(self) -> None:
        m = model("post")
        b = batch(Rng(5))
        opt = new_optimizer(m, OPTIM)
        losses = [train_step(m, m, opt, b, len(b.masked_positions), full_depth(3), Dropout(None), 3e-3, 1.0, Dist(), t).loss for t in range(60)]
        self.assertLess(losses[-1], 0.3 * losses[0])

    def test_rank_slices_cover_the_global_batch(self) -> None:
        b = batch(Rng(6), B=4)
        parts = [shard_batch(b, r, 2) for r in range(2)]
        self.assertEqual(sum(len(p.masked_positions) for p in parts), len(b.masked_positions))
        self.assertTrue(np.array_equal(np.concatenate([parts[0].input_ids, parts[1].input_ids]), b.input_ids))
        with self.assertRaisesRegex(ValueError, "does not divide among 3 workers"):
            shard_batch(b, 0, 3)

    def test_learning_rate_schedule(self) -> None:
        self.assertEqual(warmup_steps(0.1, 30), 3)
        self.assertEqual(warmup_steps(0.05, 10), 1)  # Math.round(0.5) = 1
        self.assertAlmostEqual(learning_rate(1e-3, 3, 30, 0), 1e-3 / 3)
        self.assertAlmostEqual(learning_rate(1e-3, 3, 30, 3), 1e-3)
        self.assertEqual(learning_rate(1e-3, 3, 30, 30), 0)


class ShardTest(unittest.TestCase):
    def test_shard_layout_and_a_bad_shard(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "train-00000.i32")
            np.array([2, 2, 1, 7, 8, 9], dtype="<i4").tofile(f)  # n = 2, lengths 2 and 1, tokens
            p = read_shard(f)
            self.assertEqual([x.tolist() for x in p], [[7, 8], [9]])
            both = Packed.concat([p, p])
            self.assertEqual(len(both), 4)
            self.assertEqual([x.tolist() for x in both[1:3]], [[9], [7, 8]])
            np.array([2, 2, 2, 7, 8, 9], dtype="<i4").tofile(f)
            with self.assertRaisesRegex(ValueError, "is not a valid shard"):
                read_shard(f)


class CheckpointTest(unittest.TestCase):
    def test_safetensors_round_trip_and_errors(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            f = os.path.join(d, "x.safetensors")
            a = torch.arange(6, dtype=torch.float32).view(2, 3)
            safetensors.write(f, [("b", a), ("a", torch.tensor([1.5]))], {"format": "pt"})
            raw = open(f, "rb").read()
            self.assertEqual((8 + int.from_bytes(raw[:8], "little")) % 8, 0)
            t, meta = safetensors.read(f)
            self.assertEqual(list(t), ["b", "a"])
            self.assertTrue(torch.equal(t["b"], a))
            self.assertEqual(meta, {"format": "pt"})
            open(f, "wb").write(raw[:-4])
            with self.assertRaisesRegex(ValueError, "is not a valid safetensors file"):
                safetensors.read(f)

    def test_checkpoint_round_trip_keeps_moments_in_kit_layout(self) -> None:
        m = model("pre")
        opt = new_optimizer(m, OPTIM)
        b = batch(Rng(7))
        train_step(m, m, opt, b, len(b.masked_positions), Gates(0.6, [True, True, False], [1, 1, 1]), Dropout(None), 1e-3, 1.0, Dist(), 0)
        with tempfile.TemporaryDirectory() as d:
            ck = os.path.join(d, "checkpoint")
            cfg = {"model": {}}
            save_checkpoint(ck, m, opt, {"step": 1, "config": cfg, "rng": [1, 2, 3, 4], "data": {"data": {"epoch": 0, "index": 4, "rng": [5, 6, 7, 8]}}, "trainSeconds": 0.5})
            moments, _ = safetensors.read(os.path.join(ck, "optimizer.safetensors"))
            # intermediate.dense is [in 16, out 32] in the kit, [32, 16] in PyTorch
            self.assertEqual(list(moments["exp_avg.bert.encoder.layer.0.intermediate.dense.weight"].shape), [16, 32])
            s = read_state(ck)
            self.assertEqual(s["optimizerSteps"]["bert.encoder.layer.0.output.dense.weight"], 1)
            self.assertNotIn("bert.encoder.layer.2.output.dense.weight", s["optimizerSteps"])
            m2 = model("pre", seed=2)
            opt2 = new_optimizer(m2, OPTIM)
            load_checkpoint(ck, m2, opt2)
            for (n, p), (_, q) in zip(m.named_parameters(), m2.named_parameters()):
                self.assertTrue(torch.equal(p, q), n)
            for n, s1 in opt.state.items():
                self.assertTrue(torch.equal(s1.m, opt2.state[n].m) and torch.equal(s1.v, opt2.state[n].v) and s1.step == opt2.state[n].step, n)


if __name__ == "__main__":
    unittest.main()
