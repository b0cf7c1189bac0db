"""The twin's schedule and generator against the kit's values (test/schedule.test.ts, src/util/rng.ts).

The cross-language stream checks (thousands of draws, batches, gates) run from test/twin.test.ts,
which compares these ports with the kit itself; here are the hand-computed values and golden draws.
"""
import math
import unittest

from pld_torch.rng import Rng, to_int32, to_uint32
from pld_torch.schedule import NO_DROP, PLD_DEFAULT, ScheduleConfig, block_probs, expected_blocks, full_depth, keep_prob, sample_gates, theta, theta_at


class ScheduleTest(unittest.TestCase):
    def test_theta_by_hand(self) -> None:
        self.assertEqual(theta(0, 0.5, 0.001), 1)
        self.assertAlmostEqual(theta(1000, 0.5, 0.001), 0.683939720585721, places=14)  # 0.5·e^-1 + 0.5
        self.assertAlmostEqual(theta(500, 0.75, 0.002), 0.841969860292861, places=14)
        self.assertAlmostEqual(theta(50, 0.9, 0.01), 0.960653065971263, places=14)
        self.assertEqual(theta(123, 1, 0.3), 1)

    def test_keep_prob_and_depth(self) -> None:
        self.assertAlmostEqual(keep_prob(1, 12, 0.5), 1 - 0.5 / 12)
        self.assertEqual(keep_prob(12, 12, 0.5), 0.5)
        sample, scale = block_probs(PLD_DEFAULT, 4, 0.6)
        self.assertEqual([round(p, 12) for p in sample], [0.9, 0.8, 0.7, 0.6])
        self.assertEqual([round(p, 12) for p in scale], [0.9, 0.8, 0.7, 0.6])

    def test_expected_depth_paper_and_deepspeed(self) -> None:
        self.assertAlmostEqual(expected_blocks(PLD_DEFAULT, 12, 0.5), 8.75, places=12)
        ds = ScheduleConfig(0.5, 0.001, "deepspeed", True, False)
        self.assertAlmostEqual(expected_blocks(ds, 12, 0.5), 9.25, places=12)
        sample, scale = block_probs(ds, 4, 0.6)
        self.assertEqual(sample[0], 1.0)  # DeepSpeed never drops block 0 ...
        self.assertAlmostEqual(scale[0], 0.9)  # ... but rescales it by the paper's p_1
        self.assertEqual(expected_blocks(NO_DROP, 12, theta_at(NO_DROP, 5000)), 12)

    def test_uniform_without_rescale_is_layerdrop(self) -> None:
        s = ScheduleConfig(0.7, 0.0, "uniform", False, True)
        sample, scale = block_probs(s, 3, theta_at(s, 10))
        self.assertEqual(sample, [0.7, 0.7, 0.7])
        self.assertEqual(scale, [1.0, 1.0, 1.0])

    def test_gates_draw_every_block(self) -> None:
        a, b = Rng(5), Rng(5)
        sample_gates(NO_DROP, 6, 0, a)  # p = 1 everywhere still draws 6 numbers
        for _ in range(6):
            b.next()
        self.assertEqual(a.state, b.state)
        self.assertEqual(full_depth(3).keep, [True, True, True])


class RngTest(unittest.TestCase):
    def test_golden_draws_of_the_kit(self) -> None:
        # new Rng(1).nextUint32() × 3 in the kit
        r = Rng(1)
        self.assertEqual([r.next_uint32() for _ in range(3)], [1828152527, 3394835397, 2967886022])

    def test_javascript_integer_semantics(self) -> None:
        self.assertEqual(to_uint32(-1), 4294967295)
        self.assertEqual(to_uint32(2**32 + 5), 5)
        self.assertEqual(to_uint32(-1.7), 4294967295)  # truncation toward zero, then modulo
        self.assertEqual(to_int32(2**31), -(2**31))
        self.assertEqual(Rng(-1).state, Rng(0).state)  # (-1 >>> 0) ^ (floor(-1 / 2^32) >>> 0) = 0

    def test_state_round_trip_and_fork(self) -> None:
        r = Rng(42)
        r.next()
        s = Rng.from_state(r.state)
        self.assertEqual([s.next_uint32() for _ in range(5)], [r.next_uint32() for _ in range(5)])
        f = Rng(3).fork()
        self.assertEqual(f.d & 1, 1)  # the fourth word is made odd

    def test_inlined_normals_equal_normal(self) -> None:
        a, b = Rng(12), Rng(12)
        self.assertEqual(a.normals(1000), [b.normal() for _ in range(1000)])
        self.assertEqual(a.state, b.state)

    def test_uniform_range_and_normal_moments(self) -> None:
        r = Rng(9)
        xs = [r.next() for _ in range(20000)]
        self.assertTrue(all(0 <= x < 1 for x in xs))
        self.assertAlmostEqual(sum(xs) / len(xs), 0.5, delta=0.01)
        zs = [r.normal() for _ in range(20000)]
        mean = sum(zs) / len(zs)
        var = sum((z - mean) ** 2 for z in zs) / len(zs)
        self.assertAlmostEqual(mean, 0, delta=0.03)
        self.assertAlmostEqual(var, 1, delta=0.05)
        self.assertTrue(math.isfinite(max(zs)))


if __name__ == "__main__":
    unittest.main()
