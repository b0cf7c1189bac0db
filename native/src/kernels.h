// The compute kernels on raw arrays (addon.cc checks the sizes first). Every kernel that splits its
// work does so in fixed blocks (pool.h), so its result does not depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pld_native {

// Rows per block of the row-wise kernels, elements per block of the elementwise ones.
constexpr int64_t kRowBlock = 64;
constexpr int64_t kElemBlock = 16384;

// c[i] = op(a[i])·op(b[i]) (+ bias per row), i < batch, row-major; op(a) is m×k (stored k×m when
// ta), op(b) k×n (stored n×k when tb); a[i] at i·sa, b[i] at i·sb, c[i] at i·m·n. With gelu,
// pre receives the pre-activation and c = GELU(pre). Split into tiles of rows × columns, each one
// single-threaded sgemm with its epilogue applied while the tile is in cache.
struct Product {
  int64_t batch, m, n, k;
  bool ta, tb;
  int64_t sa, sb;
};
void Gemm(const float* a, const float* b, float* c, const Product& p, const float* bias, bool gelu, float* pre);

// Single-threaded cblas_sgemm on the whole matrix, repeated: the roofline the bench compares with.
double SgemmAloneMs(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k, bool ta, bool tb, int threads, int reps);

void LayerNorm(const float* x, const float* g, const float* be, float* y, float* mu, float* rs, int64_t rows, int64_t cols, float eps);
void LayerNormGrad(const float* dy, const float* x, const float* g, const float* mu, const float* rs, float* dx, float* dg, float* db, int64_t rows, int64_t cols);
void Gelu(const float* x, float* y, size_t n);
void GeluGrad(const float* x, const float* dy, float* dx, size_t n);
void Dropout(const float* x, float* y, size_t n, double rate, uint32_t seed);
void MaskedSoftmax(const float* sc, const float* bias, float* y, int64_t batch, int64_t heads, int64_t seq, float scale);
void SoftmaxGrad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols, float scale);
void Sum(const float* x, float* out, int64_t outer, int64_t inner, bool leading);
void GatherRows(const float* table, const int32_t* idx, float* out, int64_t n, int64_t cols);
// out = x + r/divisor (x may be null: r/divisor).
void Residual(const float* x, const float* r, float* out, size_t n, float divisor);
// out = xs[0] + xs[1] + … elementwise, added in list order.
void AddN(const std::vector<const float*>& xs, float* out, size_t n);

struct AdamWHyper {
  float lr, beta1, beta2, eps, gradScale;
};
// One tensor's update: weight decay and its own bias corrections (its own step count).
struct AdamWEntry {
  float* p;
  float* m;
  float* v;
  const float* g;
  size_t n;
  float wd, bc1, bc2;
};
void AdamW(const std::vector<AdamWEntry>& entries, const AdamWHyper& h, bool inPlace, float* po, float* mo, float* vo);

// out[i] = Σ x_i² for each tensor, each summed in fixed blocks (single precision inside a block,
// double across blocks).
void SumSquares(const std::vector<const float*>& xs, const std::vector<size_t>& ns, double* out);

// Multi-head attention on [batch·seq, hidden] projections, one task per (batch, head):
// probs = softmax(scale·q·kᵀ + bias[b]) [batch, heads, seq, seq] (kept for the gradient);
// ctx = dropout(probs)·v, written into the head's columns of ctx [batch·seq, hidden]. The dropout
// mask is Dropout's hash of (seed, index into probs), so the gradient regenerates it.
void Attention(const float* q, const float* k, const float* v, const float* bias, float* probs, float* ctx,
               int64_t batch, int64_t heads, int64_t seq, int64_t hidden, float scale, double rate, uint32_t seed);
void AttentionGrad(const float* dctx, const float* q, const float* k, const float* v, const float* probs, float* dq, float* dk, float* dv,
                   int64_t batch, int64_t heads, int64_t seq, int64_t hidden, float scale, double rate, uint32_t seed);

// Dense layer's gradient from dy [rows, out] (with gelu, through GELU at the saved pre-activation
// z first): dx = dz·wᵀ [rows, in], dw = xᵀ·dz [in, out], db = Σ_rows dz [out]. scratch: rows·out.
void DenseGrad(const float* dy, const float* x, const float* w, const float* z, float* dx, float* dw, float* db, int64_t rows, int64_t in, int64_t out, float* scratch);

// Mean cross-entropy of labels under logits [rows, classes]: lse[r] = log Σ exp(logits[r]) is kept
// for the gradient, which is dloss·(softmax − onehot)/rows, computed from logits and lse in one pass.
float SoftmaxXent(const float* logits, const int32_t* labels, float* lse, int64_t rows, int64_t classes);
void SoftmaxXentGrad(const float* logits, const int32_t* labels, const float* lse, float dloss, float* dlogits, int64_t rows, int64_t classes);

}  // namespace pld_native
