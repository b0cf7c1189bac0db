// The kernels: vectorised loops over one block (namespace `block`, compiled per instruction set,
// math.h), and the functions of kernels.h that spread the blocks over the pool.
#include "kernels.h"

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>

#include "math.h"
#include "pool.h"

namespace pld_native {
// A named namespace, not an anonymous one: GCC 12 emits target_clones of internal-linkage
// functions twice (assembler "symbol already defined").
namespace block {

PLD_VECTORISED void LayerNormRows(const float* x, const float* g, const float* be, float* y, float* mu, float* rs, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; j++) s += xr[j];
    const float mean = s / cols;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < cols; j++) ss += (xr[j] - mean) * (xr[j] - mean);
    const float rstd = 1.f / std::sqrt(ss / cols + eps);
    for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mean) * rstd * g[j] + be[j];
    mu[r] = mean;
    rs[r] = rstd;
  }
}

// dx of `rows` rows; dγ and dβ of these rows into dg and db (overwritten).
PLD_VECTORISED void LayerNormGradRows(const float* dy, const float* x, const float* g, const float* mu, const float* rs, float* dx, float* dg, float* db, int64_t rows, int64_t cols) {
  std::memset(dg, 0, sizeof(float) * cols);
  std::memset(db, 0, sizeof(float) * cols);
  for (int64_t r = 0; r < rows; r++) {
    const float* dyr = dy + r * cols;
    const float* xr = x + r * cols;
    float* dxr = dx + r * cols;
    const float mean = mu[r], rstd = rs[r];
    float sg = 0.f, sgx = 0.f;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t j = 0; j < cols; j++) {
      const float xh = (xr[j] - mean) * rstd;
      const float gh = dyr[j] * g[j];
      sg += gh;
      sgx += gh * xh;
      dg[j] += dyr[j] * xh;
      db[j] += dyr[j];
    }
    sg /= cols;
    sgx /= cols;
    for (int64_t j = 0; j < cols; j++) {
      const float xh = (xr[j] - mean) * rstd;
      dxr[j] = rstd * (dyr[j] * g[j] - sg - xh * sgx);
    }
  }
}

// out[j] = Σ_b parts[b·stride + j] in block order: the fixed-order sum of per-block partials.
PLD_VECTORISED void SumParts(const float* parts, int64_t blocks, int64_t stride, float* out, int64_t cols) {
  std::memset(out, 0, sizeof(float) * cols);
  for (int64_t b = 0; b < blocks; b++)
    for (int64_t j = 0; j < cols; j++) out[j] += parts[b * stride + j];
}

PLD_VECTORISED void Gelu(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.f + Erf(x[i] * kInvSqrt2));
}

PLD_VECTORISED void GeluGrad(const float* x, const float* dy, float* dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.f + Erf(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * ExpNeg(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

// Elements first..first+n of a dropout over a larger tensor (the hash takes the global index).
PLD_VECTORISED void Dropout(const float* x, float* y, size_t n, uint32_t threshold, float scale, uint32_t seed, uint32_t first) {
  for (size_t i = 0; i < n; i++) {
    const bool keep = (Mix(seed, first + static_cast<uint32_t>(i)) >> 8) >= threshold;
    y[i] = keep ? x[i] * scale : 0.f;
  }
}

// Softmax of one row in place: y = softmax(scale·y + bias).
PLD_VECTORISED void SoftmaxRow(float* y, const float* bias, int64_t n, float scale) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; j++) {
    y[j] = scale * y[j] + bias[j];
    mx = y[j] > mx ? y[j] : mx;
  }
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; j++) {
    y[j] = ExpNeg(y[j] - mx);
    s += y[j];
  }
  const float inv = 1.f / s;
  for (int64_t j = 0; j < n; j++) y[j] *= inv;
}

PLD_VECTORISED void SoftmaxGradRows(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, float scale) {
  for (int64_t r = 0; r < rows; r++) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < cols; j++) s += dyr[j] * yr[j];
    for (int64_t j = 0; j < cols; j++) dxr[j] = scale * yr[j] * (dyr[j] - s);
  }
}

// out[j] = Σ_i x[i, j] over `outer` rows (overwritten).
PLD_VECTORISED void SumLeading(const float* x, float* out, int64_t outer, int64_t inner) {
  std::memset(out, 0, sizeof(float) * inner);
  for (int64_t i = 0; i < outer; i++) {
    const float* xr = x + i * inner;
    for (int64_t j = 0; j < inner; j++) out[j] += xr[j];
  }
}

PLD_VECTORISED void SumTrailing(const float* x, float* out, int64_t outer, int64_t inner) {
  for (int64_t i = 0; i < outer; i++) {
    const float* xr = x + i * inner;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < inner; j++) s += xr[j];
    out[i] = s;
  }
}

PLD_VECTORISED float SumSq(const float* x, size_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (size_t i = 0; i < n; i++) s += x[i] * x[i];
  return s;
}

PLD_VECTORISED void AdamW(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo, size_t n,
                          float lr, float b1, float b2, float eps, float wd, float bc1, float bc2, float gs) {
  const float decay = 1.f - lr * wd;
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i] * gs;
    const float mi = m[i] * b1 + gi * (1.f - b1);
    const float vi = v[i] * b2 + gi * gi * (1.f - b2);
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] * decay - (mi / bc1) / (std::sqrt(vi / bc2) + eps) * lr;
  }
}

PLD_VECTORISED void Residual(const float* x, const float* r, float* out, size_t n, float divisor) {
  if (x)
    for (size_t i = 0; i < n; i++) out[i] = x[i] + r[i] / divisor;
  else
    for (size_t i = 0; i < n; i++) out[i] = r[i] / divisor;
}

// out = Σ xs (in list order) over one block.
PLD_VECTORISED void AddN(const float* const* xs, size_t count, float* out, size_t n) {
  const float* x0 = xs[0];
  for (size_t i = 0; i < n; i++) out[i] = x0[i];
  for (size_t j = 1; j < count; j++) {
    const float* xj = xs[j];
    for (size_t i = 0; i < n; i++) out[i] += xj[i];
  }
}

// A product tile's epilogue: + bias per row, then (gelu) keep the pre-activation and apply GELU.
PLD_VECTORISED void Epilogue(float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias, bool gelu, float* pre, int64_t ldp) {
  for (int64_t r = 0; r < rows; r++) {
    float* cr = c + r * ldc;
    if (bias)
      for (int64_t j = 0; j < cols; j++) cr[j] += bias[j];
    if (gelu) {
      float* pr = pre + r * ldp;
      for (int64_t j = 0; j < cols; j++) {
        const float z = cr[j];
        pr[j] = z;
        cr[j] = 0.5f * z * (1.f + Erf(z * kInvSqrt2));
      }
    }
  }
}

// Cross-entropy of rows: lse[r] and loss[r] = lse[r] − logits[r, label[r]].
PLD_VECTORISED void XentRows(const float* logits, const int32_t* labels, float* lse, float* loss, int64_t rows, int64_t classes) {
  for (int64_t r = 0; r < rows; r++) {
    const float* lr = logits + r * classes;
    float mx = -INFINITY;
    for (int64_t j = 0; j < classes; j++) mx = lr[j] > mx ? lr[j] : mx;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < classes; j++) s += ExpNeg(lr[j] - mx);
    lse[r] = mx + std::log(s);
    loss[r] = lse[r] - lr[labels[r]];
  }
}

PLD_VECTORISED void XentGradRows(const float* logits, const int32_t* labels, const float* lse, float scale, float* d, int64_t rows, int64_t classes) {
  for (int64_t r = 0; r < rows; r++) {
    const float* lr = logits + r * classes;
    float* dr = d + r * classes;
    const float l = lse[r];
    for (int64_t j = 0; j < classes; j++) dr[j] = scale * ExpNeg(lr[j] - l);
    dr[labels[r]] -= scale;
  }
}

// y = x ∘ mask(seed, first + index)/(1 − rate) over one row of an attention matrix.
inline void DropRow(const float* x, float* y, int64_t n, uint32_t threshold, float scale, uint32_t seed, uint32_t first) {
  Dropout(x, y, static_cast<size_t>(n), threshold, scale, seed, first);
}

}  // namespace block

namespace {

// Keep when the top 24 bits of the hash are >= rate·2²⁴ (exactly representable in float).
uint32_t DropThreshold(double rate) { return static_cast<uint32_t>(std::ceil(rate * 16777216.0)); }

// Scratch that persists across calls, one per thread (no page faults from fresh allocations).
float* Scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Rows × columns of a product's tiles: halve the larger side (rows to >= 32, columns to >= 64,
// multiples of 16) until there are 8 tiles or a tile would fall under 2 M multiply-adds. A function
// of the shape only, so the same shape always gives the same tiles. Few, large tiles: each is a
// separate sgemm that packs its own panels of both operands.
void Tiles(int64_t m, int64_t n, int64_t k, int64_t* tm, int64_t* tn) {
  *tm = m;
  *tn = n;
  constexpr int64_t kMinMacs = int64_t{2} << 20;
  for (;;) {
    if (Blocks(m, *tm) * Blocks(n, *tn) >= 8 || *tm * *tn * k < 2 * kMinMacs) return;
    const auto half = [](int64_t t) { return ((t / 2) + 15) / 16 * 16; };
    if (*tm >= 64 && (*tm >= *tn || *tn < 128)) *tm = half(*tm);
    else if (*tn >= 128) *tn = half(*tn);
    else return;
  }
}

}  // namespace

void Gemm(const float* a, const float* b, float* c, const Product& p, const float* bias, bool gelu, float* pre) {
  int64_t tm, tn;
  Tiles(p.m, p.n, p.k, &tm, &tn);
  const int64_t bm = Blocks(p.m, tm), bn = Blocks(p.n, tn);
  const int lda = static_cast<int>(p.ta ? p.m : p.k);
  const int ldb = static_cast<int>(p.tb ? p.k : p.n);
  ParallelFor(p.batch * bm * bn, [&](int64_t t) {
    const int64_t i = t / (bm * bn), r0 = (t / bn) % bm * tm, c0 = t % bn * tn;
    const int64_t rows = std::min(tm, p.m - r0), cols = std::min(tn, p.n - c0);
    float* ct = c + i * p.m * p.n + r0 * p.n + c0;
    if (p.k == 0) {
      for (int64_t r = 0; r < rows; r++) std::memset(ct + r * p.n, 0, sizeof(float) * cols);
    } else {
      const float* at = a + i * p.sa + (p.ta ? r0 : r0 * p.k);
      const float* bt = b + i * p.sb + (p.tb ? c0 * p.k : c0);
      cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols),
                  static_cast<int>(p.k), 1.f, at, lda, bt, ldb, 0.f, ct, static_cast<int>(p.n));
    }
    if (bias || gelu) block::Epilogue(ct, p.n, rows, cols, bias ? bias + c0 : nullptr, gelu, gelu ? pre + i * p.m * p.n + r0 * p.n + c0 : nullptr, p.n);
  });
}

double SgemmAloneMs(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool ta, bool tb, int threads, int reps) {
  openblas_set_num_threads(threads);
  const auto run = [&] {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.f, a,
                static_cast<int>(ta ? m : k), b, static_cast<int>(tb ? k : n), 0.f, c, static_cast<int>(n));
  };
  run();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; r++) run();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  openblas_set_num_threads(1);
  return ms / reps;
}

void LayerNorm(const float* x, const float* g, const float* be, float* y, float* mu, float* rs, int64_t rows, int64_t cols, float eps) {
  ParallelFor(Blocks(rows, kRowBlock), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock, n = std::min(kRowBlock, rows - r0);
    block::LayerNormRows(x + r0 * cols, g, be, y + r0 * cols, mu + r0, rs + r0, n, cols, eps);
  });
}

void LayerNormGrad(const float* dy, const float* x, const float* g, const float* mu, const float* rs, float* dx, float* dg, float* db, int64_t rows, int64_t cols) {
  thread_local std::vector<float> parts;
  const int64_t blocks = Blocks(rows, kRowBlock);
  float* pt = Scratch(parts, static_cast<size_t>(blocks * 2 * cols));
  ParallelFor(blocks, [&](int64_t b) {
    const int64_t r0 = b * kRowBlock, n = std::min(kRowBlock, rows - r0);
    block::LayerNormGradRows(dy + r0 * cols, x + r0 * cols, g, mu + r0, rs + r0, dx + r0 * cols, pt + b * 2 * cols, pt + b * 2 * cols + cols, n, cols);
  });
  block::SumParts(pt, blocks, 2 * cols, dg, cols);
  block::SumParts(pt + cols, blocks, 2 * cols, db, cols);
}

void Gelu(const float* x, float* y, size_t n) {
  ParallelFor(Blocks(n, kElemBlock), [&](int64_t b) {
    const size_t i = b * kElemBlock;
    block::Gelu(x + i, y + i, std::min<size_t>(kElemBlock, n - i));
  });
}

void GeluGrad(const float* x, const float* dy, float* dx, size_t n) {
  ParallelFor(Blocks(n, kElemBlock), [&](int64_t b) {
    const size_t i = b * kElemBlock;
    block::GeluGrad(x + i, dy + i, dx + i, std::min<size_t>(kElemBlock, n - i));
  });
}

void Dropout(const float* x, float* y, size_t n, double rate, uint32_t seed) {
  const uint32_t threshold = DropThreshold(rate);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  ParallelFor(Blocks(n, kElemBlock), [&](int64_t b) {
    const size_t i = b * kElemBlock;
    block::Dropout(x + i, y + i, std::min<size_t>(kElemBlock, n - i), threshold, scale, seed, static_cast<uint32_t>(i));
  });
}

void MaskedSoftmax(const float* sc, const float* bias, float* y, int64_t batch, int64_t heads, int64_t seq, float scale) {
  const int64_t rows = batch * heads * seq;
  ParallelFor(Blocks(rows, kRowBlock), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
    std::memcpy(y + r0 * seq, sc + r0 * seq, sizeof(float) * (r1 - r0) * seq);
    for (int64_t r = r0; r < r1; r++) block::SoftmaxRow(y + r * seq, bias + (r / (heads * seq)) * seq, seq, scale);
  });
}

void SoftmaxGrad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, float scale) {
  ParallelFor(Blocks(rows, kRowBlock), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock;
    block::SoftmaxGradRows(y + r0 * cols, dy + r0 * cols, dx + r0 * cols, std::min(kRowBlock, rows - r0), cols, scale);
  });
}

void Sum(const float* x, float* out, int64_t outer, int64_t inner, bool leading) {
  if (!leading) {
    ParallelFor(Blocks(outer, kRowBlock), [&](int64_t b) {
      const int64_t r0 = b * kRowBlock;
      block::SumTrailing(x + r0 * inner, out + r0, std::min(kRowBlock, outer - r0), inner);
    });
    return;
  }
  thread_local std::vector<float> parts;
  const int64_t blocks = Blocks(outer, kRowBlock);
  if (blocks <= 1) return block::SumLeading(x, out, outer, inner);
  float* pt = Scratch(parts, static_cast<size_t>(blocks * inner));
  ParallelFor(blocks, [&](int64_t b) {
    const int64_t r0 = b * kRowBlock;
    block::SumLeading(x + r0 * inner, pt + b * inner, std::min(kRowBlock, outer - r0), inner);
  });
  block::SumParts(pt, blocks, inner, out, inner);
}

void GatherRows(const float* table, const int32_t* idx, float* out, int64_t n, int64_t cols) {
  ParallelFor(Blocks(n, kRowBlock), [&](int64_t b) {
    const int64_t i1 = std::min(n, (b + 1) * kRowBlock);
    for (int64_t i = b * kRowBlock; i < i1; i++) std::memcpy(out + i * cols, table + static_cast<int64_t>(idx[i]) * cols, sizeof(float) * cols);
  });
}

void Residual(const float* x, const float* r, float* out, size_t n, float divisor) {
  ParallelFor(Blocks(n, kElemBlock), [&](int64_t b) {
    const size_t i = b * kElemBlock;
    block::Residual(x ? x + i : nullptr, r + i, out + i, std::min<size_t>(kElemBlock, n - i), divisor);
  });
}

void AddN(const std::vector<const float*>& xs, float* out, size_t n) {
  if (xs.empty()) return;
  ParallelFor(Blocks(n, kElemBlock), [&](int64_t b) {
    const size_t i = b * kElemBlock;
    std::vector<const float*> at(xs.size());
    for (size_t j = 0; j < xs.size(); j++) at[j] = xs[j] + i;
    block::AddN(at.data(), at.size(), out + i, std::min<size_t>(kElemBlock, n - i));
  });
}

void AdamW(const std::vector<AdamWEntry>& entries, const AdamWHyper& h, bool inPlace, float* po, float* mo, float* vo) {
  // Tasks: (entry, first element) pairs of at most kElemBlock elements.
  std::vector<std::pair<size_t, size_t>> tasks;
  for (size_t e = 0; e < entries.size(); e++)
    for (size_t i = 0; i < entries[e].n; i += kElemBlock) tasks.emplace_back(e, i);
  ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const auto [e, i] = tasks[t];
    const AdamWEntry& a = entries[e];
    const size_t n = std::min<size_t>(kElemBlock, a.n - i);
    float* p1 = inPlace ? a.p + i : po + i;
    float* m1 = inPlace ? a.m + i : mo + i;
    float* v1 = inPlace ? a.v + i : vo + i;
    block::AdamW(a.p + i, a.m + i, a.v + i, a.g + i, p1, m1, v1, n, h.lr, h.beta1, h.beta2, h.eps, a.wd, a.bc1, a.bc2, h.gradScale);
  });
}

void SumSquares(const std::vector<const float*>& xs, const std::vector<size_t>& ns, double* out) {
  std::vector<std::pair<size_t, size_t>> tasks;
  for (size_t e = 0; e < xs.size(); e++)
    for (size_t i = 0; i < ns[e]; i += kElemBlock) tasks.emplace_back(e, i);
  std::vector<float> parts(tasks.size());
  ParallelFor(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
    const auto [e, i] = tasks[t];
    parts[t] = block::SumSq(xs[e] + i, std::min<size_t>(kElemBlock, ns[e] - i));
  });
  for (size_t e = 0; e < xs.size(); e++) out[e] = 0;
  for (size_t t = 0; t < tasks.size(); t++) out[tasks[t].first] += parts[t];
}

namespace {
// One (batch, head) operand: the head's `dh` columns of a [batch·seq, hidden] matrix.
struct HeadView {
  int64_t off;  // element offset of row 0, column 0 of the head
  int ld;       // = hidden
};
}  // namespace

void Attention(const float* q, const float* k, const float* v, const float* bias, float* probs, float* ctx,
               int64_t batch, int64_t heads, int64_t seq, int64_t hidden, float scale, double rate, uint32_t seed) {
  const int64_t dh = hidden / heads;
  const int S = static_cast<int>(seq), D = static_cast<int>(dh), H = static_cast<int>(hidden);
  const uint32_t threshold = DropThreshold(rate);
  const float keep = static_cast<float>(1.0 / (1.0 - rate));
  ParallelFor(batch * heads, [&](int64_t t) {
    thread_local std::vector<float> dropped;
    const int64_t b = t / heads, h = t % heads;
    const HeadView hv{b * seq * hidden + h * dh, H};
    float* p = probs + t * seq * seq;
    // scores = q·kᵀ [S, S], then the masked softmax row by row, in place.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, D, 1.f, q + hv.off, hv.ld, k + hv.off, hv.ld, 0.f, p, S);
    for (int64_t r = 0; r < seq; r++) block::SoftmaxRow(p + r * seq, bias + b * seq, seq, scale);
    const float* pd = p;
    if (rate > 0) {
      float* d = Scratch(dropped, static_cast<size_t>(seq * seq));
      for (int64_t r = 0; r < seq; r++) block::DropRow(p + r * seq, d + r * seq, seq, threshold, keep, seed, static_cast<uint32_t>(t * seq * seq + r * seq));
      pd = d;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, D, S, 1.f, pd, S, v + hv.off, hv.ld, 0.f, ctx + hv.off, hv.ld);
  });
}

void AttentionGrad(const float* dctx, const float* q, const float* k, const float* v, const float* probs, float* dq, float* dk, float* dv,
                   int64_t batch, int64_t heads, int64_t seq, int64_t hidden, float scale, double rate, uint32_t seed) {
  const int64_t dh = hidden / heads;
  const int S = static_cast<int>(seq), D = static_cast<int>(dh), H = static_cast<int>(hidden);
  const uint32_t threshold = DropThreshold(rate);
  const float keep = static_cast<float>(1.0 / (1.0 - rate));
  ParallelFor(batch * heads, [&](int64_t t) {
    thread_local std::vector<float> dropped, grad;
    const int64_t b = t / heads, h = t % heads;
    const int64_t off = b * seq * hidden + h * dh;
    const float* p = probs + t * seq * seq;
    const float* pd = p;
    const uint32_t first = static_cast<uint32_t>(t * seq * seq);
    if (rate > 0) {
      float* d = Scratch(dropped, static_cast<size_t>(seq * seq));
      for (int64_t r = 0; r < seq; r++) block::DropRow(p + r * seq, d + r * seq, seq, threshold, keep, seed, first + static_cast<uint32_t>(r * seq));
      pd = d;
    }
    float* g = Scratch(grad, static_cast<size_t>(seq * seq));
    // d(dropped probs) = dctx·vᵀ [S, S]; dv = dropped probsᵀ·dctx.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, D, 1.f, dctx + off, H, v + off, H, 0.f, g, S);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, S, 1.f, pd, S, dctx + off, H, 0.f, dv + off, H);
    // Through the dropout (same mask), then the softmax: d(scores) = scale·p·(dp − Σ dp·p).
    if (rate > 0)
      for (int64_t r = 0; r < seq; r++) block::DropRow(g + r * seq, g + r * seq, seq, threshold, keep, seed, first + static_cast<uint32_t>(r * seq));
    block::SoftmaxGradRows(p, g, g, seq, seq, scale);
    // dq = d(scores)·k, dk = d(scores)ᵀ·q.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, D, S, 1.f, g, S, k + off, H, 0.f, dq + off, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, D, S, 1.f, g, S, q + off, H, 0.f, dk + off, H);
  });
}

void DenseGrad(const float* dy, const float* x, const float* w, const float* z, float* dx, float* dw, float* db, int64_t rows, int64_t in, int64_t out, float* scratch) {
  const float* dz = dy;
  if (z) {
    GeluGrad(z, dy, scratch, static_cast<size_t>(rows * out));
    dz = scratch;
  }
  Gemm(dz, w, dx, Product{1, rows, in, out, false, true, 0, 0}, nullptr, false, nullptr);
  Gemm(x, dz, dw, Product{1, in, out, rows, true, false, 0, 0}, nullptr, false, nullptr);
  Sum(dz, db, rows, out, true);
}

float SoftmaxXent(const float* logits, const int32_t* labels, float* lse, int64_t rows, int64_t classes) {
  std::vector<float> loss(static_cast<size_t>(rows));
  ParallelFor(Blocks(rows, kRowBlock), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock;
    block::XentRows(logits + r0 * classes, labels + r0, lse + r0, loss.data() + r0, std::min(kRowBlock, rows - r0), classes);
  });
  double s = 0;
  for (float l : loss) s += l;
  return static_cast<float>(s / static_cast<double>(rows));
}

void SoftmaxXentGrad(const float* logits, const int32_t* labels, const float* lse, float dloss, float* dlogits, int64_t rows, int64_t classes) {
  const float scale = dloss / static_cast<float>(rows);
  ParallelFor(Blocks(rows, kRowBlock), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock;
    block::XentGradRows(logits + r0 * classes, labels + r0, lse + r0, scale, dlogits + r0 * classes, std::min(kRowBlock, rows - r0), classes);
  });
}

}  // namespace pld_native
