// pld_native: the kit's native kernels for tfjs's wasm backend (src/backend/wasm-kernels.ts
// registers them; src/model/ops.ts uses the fused ones when they are there).
//
// Why: tfjs-backend-wasm runs every batched or transposed matMul in a scalar loop (~1 GMAC/s
// here) and its 2-D XNNPACK path is bounded by 128-bit wasm SIMD without FMA (~12 GMAC/s);
// OpenBLAS on the same core uses AVX2/AVX-512 FMA (~40-60 GMAC/s). The elementwise work of a
// transformer step (LayerNorm, GELU, dropout, softmax, AdamW and their gradients) is a dozen
// tfjs kernels per formula, each a full pass over memory; here each is one pass, vectorised by
// the compiler (-O3, see PLD_VECTORISED), as in DeepSpeed's fused transformer kernels and FusedAdam.
//
// Operands are Float32Array views on the wasm heap, so nothing is copied: the kernels read and
// write tfjs's own memory. Every function checks that the ranges it touches lie inside the
// arrays it was given, so a wrong shape from JavaScript throws instead of corrupting memory.
#include <node_api.h>
#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

// A named namespace, not an anonymous one: GCC 12 emits target_clones of internal-linkage
// functions twice (assembler "symbol already defined").
namespace pld_native {

// ---------------------------------------------------------------------------------------------
// Argument parsing: Args reads positional arguments and remembers the first error, which is
// thrown once as a JavaScript TypeError/RangeError.

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
};
using F32 = View<float>;
using I32 = View<int32_t>;

class Args {
 public:
  Args(napi_env env, napi_callback_info cb, const char* fn, size_t expected) : env_(env), fn_(fn) {
    argc_ = kMax;
    if (napi_get_cb_info(env, cb, &argc_, argv_, nullptr, nullptr) != napi_ok) Fail("cannot read arguments");
    if (argc_ != expected) Fail("takes " + std::to_string(expected) + " arguments, got " + std::to_string(argc_));
  }

  // A Float32Array (on an ArrayBuffer or a SharedArrayBuffer); null/undefined when nullable.
  F32 Array(const char* name, bool nullable = false) { return Typed<float>(name, napi_float32_array, "a Float32Array", nullable); }

  I32 IntArray(const char* name) { return Typed<int32_t>(name, napi_int32_array, "an Int32Array", false); }

  int64_t Int(const char* name) {
    int64_t v = 0;
    if (!ok_) return 0;
    if (napi_get_value_int64(env_, argv_[next_++], &v) != napi_ok || v < 0) Fail(std::string(name) + " must be a whole number >= 0", true);
    return v;
  }

  double Num(const char* name) {
    double v = 0;
    if (!ok_) return 0;
    if (napi_get_value_double(env_, argv_[next_++], &v) != napi_ok) Fail(std::string(name) + " must be a number", true);
    return v;
  }

  bool Bool(const char* name) {
    bool v = false;
    if (!ok_) return false;
    if (napi_get_value_bool(env_, argv_[next_++], &v) != napi_ok) Fail(std::string(name) + " must be a boolean", true);
    return v;
  }

  // Requires `a` to hold at least `n` elements.
  void Need(const F32& a, size_t n, const char* name) {
    if (ok_ && a.length < n) Fail(std::string(name) + " has " + std::to_string(a.length) + " elements, needs " + std::to_string(n));
  }

  void Fail(const std::string& msg, bool type_error = false) {
    if (!ok_) return;
    ok_ = false;
    const std::string text = std::string("pld_native.") + fn_ + ": " + msg;
    if (type_error) napi_throw_type_error(env_, nullptr, text.c_str());
    else napi_throw_range_error(env_, nullptr, text.c_str());
  }

  bool ok() const { return ok_; }

 private:
  template <typename T>
  View<T> Typed(const char* name, napi_typedarray_type want, const char* what, bool nullable) {
    View<T> out;
    if (!ok_) return out;
    napi_value v = argv_[next_++];
    napi_valuetype t;
    napi_typeof(env_, v, &t);
    if (nullable && (t == napi_null || t == napi_undefined)) return out;
    bool is_ta = false;
    napi_is_typedarray(env_, v, &is_ta);
    napi_typedarray_type type = napi_int8_array;
    void* data = nullptr;
    if (is_ta) napi_get_typedarray_info(env_, v, &type, &out.length, &data, nullptr, nullptr);
    if (!is_ta || type != want) {
      Fail(std::string(name) + " must be " + what, true);
      return View<T>();
    }
    out.data = static_cast<T*>(data);
    return out;
  }

  static constexpr size_t kMax = 16;
  napi_env env_;
  const char* fn_;
  size_t argc_ = 0;
  size_t next_ = 0;
  napi_value argv_[kMax];
  bool ok_ = true;
};

// ---------------------------------------------------------------------------------------------
// Vectorisable math (reductions are marked `omp simd`, which -fopenmp-simd turns into vector
// code without OpenMP's runtime). glibc's erff/expf are scalar calls (~10 ns each); these are plain
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
size_t Extent(int64_t count, int64_t stride, int64_t rows, int64_t cols) {
  if (count == 0 || rows == 0 || cols == 0) return 0;
  return static_cast<size_t>((count - 1) * stride + rows * cols);
}

// ---------------------------------------------------------------------------------------------
// The elementwise kernels: plain loops over raw arrays (the N-API wrappers below check the sizes).

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

PLD_VECTORISED void GeluKernel(const float* x, float* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.f + Erf(x[i] * kInvSqrt2));
}

PLD_VECTORISED void GeluGradKernel(const float* x, const float* dy, float* dx, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float cdf = 0.5f * (1.f + Erf(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * ExpNeg(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

PLD_VECTORISED void DropoutKernel(const float* x, float* y, size_t n, uint32_t threshold, float scale, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    const bool keep = (Mix(seed, static_cast<uint32_t>(i)) >> 8) >= threshold;
    y[i] = keep ? x[i] * scale : 0.f;
  }
}

PLD_VECTORISED void MaskedSoftmaxRows(const float* sc, const float* bias, float* y, int64_t rows, int64_t rowsPerBatch, int64_t seq, float scale) {
  for (int64_t r = 0; r < rows; r++) {
    const float* sr = sc + r * seq;
    const float* br = bias + (r / rowsPerBatch) * seq;
    float* yr = y + r * seq;
    float mx = -INFINITY;
    for (int64_t j = 0; j < seq; j++) {
      yr[j] = scale * sr[j] + br[j];
      mx = yr[j] > mx ? yr[j] : mx;
    }
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < seq; j++) {
      yr[j] = ExpNeg(yr[j] - mx);
      s += yr[j];
    }
    const float inv = 1.f / s;
    for (int64_t j = 0; j < seq; j++) yr[j] *= inv;
  }
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

PLD_VECTORISED void SumKernel(const float* x, float* out, int64_t outer, int64_t inner, bool leading) {
  if (leading) {
    std::memset(out, 0, sizeof(float) * inner);
    for (int64_t i = 0; i < outer; i++) {
      const float* xr = x + i * inner;
      for (int64_t j = 0; j < inner; j++) out[j] += xr[j];
    }
    return;
  }
  for (int64_t i = 0; i < outer; i++) {
    const float* xr = x + i * inner;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < inner; j++) s += xr[j];
    out[i] = s;
  }
}

PLD_VECTORISED void AdamWKernel(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo, size_t n,
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

// ---------------------------------------------------------------------------------------------
// N-API functions: read and check the arguments, then run a kernel.

// gemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, bias)
//   c[i] = op(a[i]) · op(b[i]) (+ bias on every row), i < batch, row-major;
//   op(a[i]) is m×k (a[i] stored k×m when transA), op(b[i]) is k×n (stored n×k when transB);
//   a[i] starts at i·strideA (0 broadcasts one matrix), likewise b; c[i] at i·m·n;
//   bias: a Float32Array of n, or null.
napi_value Gemm(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "gemm", 12);
  F32 a = args.Array("a"), b = args.Array("b"), c = args.Array("c");
  const int64_t batch = args.Int("batch"), m = args.Int("m"), n = args.Int("n"), k = args.Int("k");
  const bool ta = args.Bool("transA"), tb = args.Bool("transB");
  const int64_t sa = args.Int("strideA"), sb = args.Int("strideB");
  F32 bias = args.Array("bias", true);
  args.Need(a, Extent(batch, sa, m, k), "a");
  args.Need(b, Extent(batch, sb, k, n), "b");
  args.Need(c, Extent(batch, m * n, m, n), "c");
  if (bias.data && static_cast<int64_t>(bias.length) != n) args.Fail("bias must have n elements");
  if (!args.ok()) return nullptr;

  const CBLAS_TRANSPOSE opA = ta ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE opB = tb ? CblasTrans : CblasNoTrans;
  const int lda = static_cast<int>(ta ? m : k);
  const int ldb = static_cast<int>(tb ? k : n);
  for (int64_t i = 0; i < batch; i++) {
    float* ci = c.data + i * m * n;
    float beta = 0.f;
    if (bias.data) {
      for (int64_t r = 0; r < m; r++) std::memcpy(ci + r * n, bias.data, sizeof(float) * n);
      beta = 1.f;
    } else if (k == 0) {
      std::memset(ci, 0, sizeof(float) * m * n);
    }
    if (k == 0 || m == 0 || n == 0) continue;
    cblas_sgemm(CblasRowMajor, opA, opB, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.f,
                a.data + i * sa, lda, b.data + i * sb, ldb, beta, ci, static_cast<int>(n));
  }
  return nullptr;
}

// gatherRows(table, indices, out, cols): out[i] = table row indices[i] (rows of `cols` floats);
// the embedding lookup. An index outside the table throws (as tfjs's cpu backend does).
napi_value GatherRows(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "gatherRows", 4);
  F32 table = args.Array("table");
  I32 idx = args.IntArray("indices");
  F32 out = args.Array("out");
  const int64_t cols = args.Int("cols");
  args.Need(out, idx.length * cols, "out");
  if (!args.ok() || cols == 0) return nullptr;
  const int64_t rows = static_cast<int64_t>(table.length) / cols;
  for (size_t i = 0; i < idx.length; i++) {
    const int64_t r = idx.data[i];
    if (r < 0 || r >= rows) {
      args.Fail("index " + std::to_string(r) + " at position " + std::to_string(i) + " is outside the table's " + std::to_string(rows) + " rows");
      return nullptr;
    }
    std::memcpy(out.data + i * cols, table.data + r * cols, sizeof(float) * cols);
  }
  return nullptr;
}

// layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps): per row of x [rows, cols],
//   y = (x − μ)·rstd·γ + β with rstd = 1/√(σ² + eps); μ and rstd are kept for the gradient.
napi_value LayerNorm(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "layerNorm", 9);
  F32 x = args.Array("x"), g = args.Array("gamma"), be = args.Array("beta"), y = args.Array("y");
  F32 mu = args.Array("mean"), rs = args.Array("rstd");
  const int64_t rows = args.Int("rows"), cols = args.Int("cols");
  const float eps = static_cast<float>(args.Num("eps"));
  args.Need(x, rows * cols, "x");
  args.Need(y, rows * cols, "y");
  args.Need(g, cols, "gamma");
  args.Need(be, cols, "beta");
  args.Need(mu, rows, "mean");
  args.Need(rs, rows, "rstd");
  if (!args.ok() || cols == 0) return nullptr;
  LayerNormRows(x.data, g.data, be.data, y.data, mu.data, rs.data, rows, cols, eps);
  return nullptr;
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols), with x̂ = (x − μ)·rstd
// and ĝ = dy·γ: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)); dγ = Σ_rows dy·x̂; dβ = Σ_rows dy.
napi_value LayerNormGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "layerNormGrad", 10);
  F32 dy = args.Array("dy"), x = args.Array("x"), g = args.Array("gamma"), mu = args.Array("mean"), rs = args.Array("rstd");
  F32 dx = args.Array("dx"), dg = args.Array("dgamma"), db = args.Array("dbeta");
  const int64_t rows = args.Int("rows"), cols = args.Int("cols");
  for (auto* a : {&dy, &x, &dx}) args.Need(*a, rows * cols, "dy/x/dx");
  for (auto* a : {&g, &dg, &db}) args.Need(*a, cols, "gamma/dgamma/dbeta");
  args.Need(mu, rows, "mean");
  args.Need(rs, rows, "rstd");
  if (!args.ok()) return nullptr;
  LayerNormGradRows(dy.data, x.data, g.data, mu.data, rs.data, dx.data, dg.data, db.data, rows, cols);
  return nullptr;
}

// gelu(x, y): BERT's exact GELU, y = x·Φ(x) = ½x(1 + erf(x/√2)).
napi_value Gelu(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "gelu", 2);
  F32 x = args.Array("x"), y = args.Array("y");
  args.Need(y, x.length, "y");
  if (!args.ok()) return nullptr;
  GeluKernel(x.data, y.data, x.length);
  return nullptr;
}

// geluGrad(x, dy, dx): dx = dy·(Φ(x) + x·φ(x)), φ the standard normal density.
napi_value GeluGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "geluGrad", 3);
  F32 x = args.Array("x"), dy = args.Array("dy"), dx = args.Array("dx");
  args.Need(dy, x.length, "dy");
  args.Need(dx, x.length, "dx");
  if (!args.ok()) return nullptr;
  GeluGradKernel(x.data, dy.data, dx.data, x.length);
  return nullptr;
}

// dropout(x, y, rate, seed): y = x / (1 − rate) where u(seed, i) >= rate, else 0, with
// u = Mix(seed, i)/2³² uniform in [0, 1). Its gradient is the same call on dy with the same seed.
napi_value Dropout(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "dropout", 4);
  F32 x = args.Array("x"), y = args.Array("y");
  const double rate = args.Num("rate");
  const int64_t seed = args.Int("seed");
  args.Need(y, x.length, "y");
  if (!(rate >= 0 && rate < 1)) args.Fail("rate must be in [0, 1)");
  if (x.length > UINT32_MAX) args.Fail("more than 2^32 elements");
  if (!args.ok()) return nullptr;
  // Keep when the top 24 bits of the hash are >= rate·2²⁴ (exactly representable in float).
  const uint32_t threshold = static_cast<uint32_t>(std::ceil(rate * 16777216.0));
  DropoutKernel(x.data, y.data, x.length, threshold, static_cast<float>(1.0 / (1.0 - rate)), static_cast<uint32_t>(seed));
  return nullptr;
}

// maskedSoftmax(scores, bias, y, batch, heads, seq, scale): attention probabilities.
//   scores [batch, heads, seq, seq], bias [batch, seq] (0 where attended, −10000 at padding):
//   y = softmax over the last axis of scale·scores + bias[b] (broadcast over heads and queries).
napi_value MaskedSoftmax(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "maskedSoftmax", 7);
  F32 sc = args.Array("scores"), bias = args.Array("bias"), y = args.Array("y");
  const int64_t batch = args.Int("batch"), heads = args.Int("heads"), seq = args.Int("seq");
  const float scale = static_cast<float>(args.Num("scale"));
  args.Need(sc, batch * heads * seq * seq, "scores");
  args.Need(y, batch * heads * seq * seq, "y");
  args.Need(bias, batch * seq, "bias");
  if (!args.ok()) return nullptr;
  MaskedSoftmaxRows(sc.data, bias.data, y.data, batch * heads * seq, heads * seq, seq, scale);
  return nullptr;
}

// softmaxGrad(y, dy, dx, rows, cols, scale): the gradient of scale·x → softmax over the last
// axis, from its output y: dx = scale·y·(dy − Σ_j dy·y).
napi_value SoftmaxGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "softmaxGrad", 6);
  F32 y = args.Array("y"), dy = args.Array("dy"), dx = args.Array("dx");
  const int64_t rows = args.Int("rows"), cols = args.Int("cols");
  const float scale = static_cast<float>(args.Num("scale"));
  for (auto* a : {&y, &dy, &dx}) args.Need(*a, rows * cols, "y/dy/dx");
  if (!args.ok()) return nullptr;
  SoftmaxGradRows(y.data, dy.data, dx.data, rows, cols, scale);
  return nullptr;
}

// sum(x, out, outer, inner, leading): x viewed as [outer, inner]; leading: out[j] = Σ_i x[i, j]
// (the bias gradient's reduction over rows), else out[i] = Σ_j x[i, j].
napi_value Sum(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "sum", 5);
  F32 x = args.Array("x"), out = args.Array("out");
  const int64_t outer = args.Int("outer"), inner = args.Int("inner");
  const bool leading = args.Bool("leading");
  args.Need(x, outer * inner, "x");
  args.Need(out, leading ? inner : outer, "out");
  if (!args.ok()) return nullptr;
  SumKernel(x.data, out.data, outer, inner, leading);
  return nullptr;
}

// adamw(p, m, v, g, pOut, mOut, vOut, lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale):
// torch.optim.AdamW's update, in the order src/train/optimizer.ts writes it:
//   g ← g·gradScale; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
//   p ← p·(1 − lr·λ) − lr·(m/bc1)/(√(v/bc2) + ε).
napi_value AdamW(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "adamw", 15);
  F32 p = args.Array("p"), m = args.Array("m"), v = args.Array("v"), g = args.Array("g");
  F32 po = args.Array("pOut"), mo = args.Array("mOut"), vo = args.Array("vOut");
  const float lr = static_cast<float>(args.Num("lr")), b1 = static_cast<float>(args.Num("beta1"));
  const float b2 = static_cast<float>(args.Num("beta2")), eps = static_cast<float>(args.Num("eps"));
  const float wd = static_cast<float>(args.Num("weightDecay"));
  const float bc1 = static_cast<float>(args.Num("bc1")), bc2 = static_cast<float>(args.Num("bc2"));
  const float gs = static_cast<float>(args.Num("gradScale"));
  for (auto* a : {&m, &v, &g, &po, &mo, &vo}) args.Need(*a, p.length, "m/v/g/pOut/mOut/vOut");
  if (!args.ok()) return nullptr;
  AdamWKernel(p.data, m.data, v.data, g.data, po.data, mo.data, vo.data, p.length, lr, b1, b2, eps, wd, bc1, bc2, gs);
  return nullptr;
}

napi_value SetThreads(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "setThreads", 1);
  const int64_t n = args.Int("threads");
  if (args.ok() && n < 1) args.Fail("threads must be >= 1");
  if (args.ok()) openblas_set_num_threads(static_cast<int>(n));
  return nullptr;
}

// info() → { blas: 'OpenBLAS 0.3.21 …', core: 'SkylakeX', threads: 1 }
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, blas, core, threads;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &blas);
  napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core);
  napi_create_int32(env, openblas_get_num_threads(), &threads);
  napi_set_named_property(env, obj, "blas", blas);
  napi_set_named_property(env, obj, "core", core);
  napi_set_named_property(env, obj, "threads", threads);
  return obj;
}

constexpr napi_property_descriptor Method(const char* name, napi_callback fn) {
  return {name, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr};
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      Method("gemm", Gemm),
      Method("gatherRows", GatherRows),
      Method("layerNorm", LayerNorm),
      Method("layerNormGrad", LayerNormGrad),
      Method("gelu", Gelu),
      Method("geluGrad", GeluGrad),
      Method("dropout", Dropout),
      Method("maskedSoftmax", MaskedSoftmax),
      Method("softmaxGrad", SoftmaxGrad),
      Method("sum", Sum),
      Method("adamw", AdamW),
      Method("setThreads", SetThreads),
      Method("info", Info),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace pld_native

NAPI_MODULE(NODE_GYP_MODULE_NAME, pld_native::Init)
