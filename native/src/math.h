// Vectorisable math shared by the kernels, and the multi-versioning attribute.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace pld_native {

// Reductions are marked `omp simd`, which -fopenmp-simd turns into vector code without OpenMP's
// runtime. glibc's erff/expf are scalar calls (~10 ns each); these are plain
// arithmetic the compiler turns into AVX lanes.

// e^x for x <= 0: 2^n · e^r with |r| <= ln2/2, degree-6 Taylor polynomial for e^r (relative
// error < 2e-7), 2^n built in the exponent bits. Below −87 the result is 0, not a subnormal:
// masked attention keys (bias −10000) must get probability exactly 0, as with tfjs's exp, or
// their subnormal probabilities reach every later matrix product, where subnormal operands made
// OpenBLAS ~5× slower (measured: 728 ms instead of 136 ms for a `small`-preset step on real,
// padded batches).
inline float ExpNeg(float x) {
  const bool underflow = x < -87.f;
  x = underflow ? -87.f : x;
  const float n = std::nearbyint(x * 1.44269504f);
  const float r = x - n * 0.693147181f;
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return underflow ? 0.f : p * scale;
}

// erf(x), Abramowitz & Stegun 7.1.28: 1 − (1 + a1·x + … + a6·x⁶)^−16 for x >= 0, odd in x;
// absolute error < 3e-7 (below float32 resolution near ±1).
inline float Erf(float x) {
  const float ax = std::fabs(x);
  float p = 0.0000430638f;
  p = p * ax + 0.0002765672f;
  p = p * ax + 0.0001520143f;
  p = p * ax + 0.0092705272f;
  p = p * ax + 0.0422820123f;
  p = p * ax + 0.0705230784f;
  p = p * ax + 1.f;
  p = p * p;  // ^2
  p = p * p;  // ^4
  p = p * p;  // ^8
  p = p * p;  // ^16
  const float e = 1.f - 1.f / p;
  return x < 0 ? -e : e;
}

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// murmur3's 32-bit finaliser of (seed, index): the dropout mask is a pure function of both, so
// the backward pass regenerates the forward mask from the seed instead of storing it.
inline uint32_t Mix(uint32_t seed, uint32_t i) {
  uint32_t h = (i * 0x9E3779B9u) ^ seed;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// The elementwise kernels are compiled three times, for AVX-512 (x86-64-v4), AVX2 + FMA
// (x86-64-v3) and baseline x86-64, and the loader picks the best this CPU runs (GCC's function
// multi-versioning), so a build copied to an older machine still runs. OpenBLAS dispatches itself.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PLD_VECTORISED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PLD_VECTORISED
#endif

// Highest element index + 1 that `count` matrices of `rows`×`cols` at `stride` apart touch.
inline size_t Extent(int64_t count, int64_t stride, int64_t rows, int64_t cols) {
  if (count == 0 || rows == 0 || cols == 0) return 0;
  return static_cast<size_t>((count - 1) * stride + rows * cols);
}

}  // namespace pld_native
