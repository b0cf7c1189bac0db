"""The kit's seeded generator (src/util/rng.ts) bit for bit: sfc32 seeded through splitmix32.

The twin draws its masks, data order, gates and dropout seeds from the same streams as the kit, so
a run started in a notebook continues here on the same gates and batches. JavaScript's 32-bit
integer semantics (`>>> 0`, `Math.imul`, `| 0`) are written out with explicit masks.
"""
from __future__ import annotations

import math
from typing import List, MutableSequence, Sequence, Tuple, TypeVar

M32 = 0xFFFFFFFF
T = TypeVar("T")
RngState = Tuple[int, int, int, int]


def to_uint32(x: float) -> int:
    """JavaScript's `x >>> 0` for a finite number (truncate toward zero, then modulo 2^32)."""
    return int(math.trunc(x)) % 2**32


def to_int32(x: float) -> int:
    """JavaScript's `x | 0`."""
    u = to_uint32(x)
    return u - 2**32 if u >= 2**31 else u


def _imul(a: int, b: int) -> int:
    return (a * b) & M32


class Rng:
    def __init__(self, seed: float) -> None:
        if not math.isfinite(seed):
            raise ValueError(f"Rng seed must be a finite number, got {seed}")
        s = to_uint32(seed) ^ to_uint32(math.floor(seed / 2**32))

        def splitmix() -> int:
            nonlocal s
            s = (s + 0x9E3779B9) & M32
            z = s
            z = _imul(z ^ (z >> 16), 0x85EBCA6B)
            z = _imul(z ^ (z >> 13), 0xC2B2AE35)
            return (z ^ (z >> 16)) & M32

        self.a = splitmix()
        self.b = splitmix()
        self.c = splitmix()
        self.d = splitmix()
        for _ in range(12):
            self.next_uint32()

    @staticmethod
    def from_state(state: Sequence[int]) -> "Rng":
        r = Rng(0)
        r.a, r.b, r.c, r.d = (to_uint32(v) for v in state)
        return r

    @property
    def state(self) -> RngState:
        return (self.a, self.b, self.c, self.d)

    def next_uint32(self) -> int:
        t = (self.a + self.b + self.d) & M32
        self.d = (self.d + 1) & M32
        self.a = self.b ^ (self.b >> 9)
        self.b = (self.c + (self.c << 3)) & M32
        self.c = ((self.c << 21) & M32) | (self.c >> 11)
        self.c = (self.c + t) & M32
        return t

    def next(self) -> float:
        """Uniform in [0, 1)."""
        return self.next_uint32() / 4294967296

    def int(self, n: int) -> int:
        """Integer in [0, n)."""
        return math.floor(self.next() * n)

    def bernoulli(self, p: float) -> bool:
        return self.next() < p

    def normal(self) -> float:
        """Box–Muller, as the kit (libm's log/cos may differ from V8's by an ulp of a double)."""
        u = 0.0
        while u == 0:
            u = self.next()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * self.next())

    def normals(self, n: int) -> List[float]:
        """n draws of `normal()`, the same values, with the generator inlined (initialising a BERT-base
        draws 10^8 of them: the method calls would triple the time)."""
        a, b, c, d = self.a, self.b, self.c, self.d
        out: List[float] = []
        append, log, cos, sqrt, two_pi = out.append, math.log, math.cos, math.sqrt, 2 * math.pi
        while len(out) < n:
            u = 0.0
            while u == 0:
                t = (a + b + d) & M32
                d = (d + 1) & M32
                a = b ^ (b >> 9)
                b = (c + (c << 3)) & M32
                c = ((((c << 21) & M32) | (c >> 11)) + t) & M32
                u = t / 4294967296
            t = (a + b + d) & M32
            d = (d + 1) & M32
            a = b ^ (b >> 9)
            b = (c + (c << 3)) & M32
            c = ((((c << 21) & M32) | (c >> 11)) + t) & M32
            append(sqrt(-2 * log(u)) * cos(two_pi * (t / 4294967296)))
        self.a, self.b, self.c, self.d = a, b, c, d
        return out

    def shuffle(self, xs: MutableSequence[T]) -> MutableSequence[T]:
        """In-place Fisher–Yates, the kit's order of draws."""
        for i in range(len(xs) - 1, 0, -1):
            j = self.int(i + 1)
            xs[i], xs[j] = xs[j], xs[i]
        return xs

    def fork(self) -> "Rng":
        return Rng.from_state([self.next_uint32(), self.next_uint32(), self.next_uint32(), self.next_uint32() | 1])


def uint32s(rng: Rng, n: int) -> List[int]:
    return [rng.next_uint32() for _ in range(n)]
