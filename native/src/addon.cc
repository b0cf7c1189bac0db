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
//
// Files: this one reads and checks the arguments (args.h); kernels.cc computes (math.h has the
// vectorised math); pool.cc runs the work on the addon's threads (PLD_THREADS of them).
#include <node_api.h>
#include <cblas.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "args.h"
#include "kernels.h"
#include "math.h"
#include "pool.h"

namespace pld_native {

// ---------------------------------------------------------------------------------------------
// N-API functions: read and check the arguments, then run a kernel.

// gemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB, bias)
//   c[i] = op(a[i]) · op(b[i]) (+ bias on every row), i < batch, row-major;
//   op(a[i]) is m×k (a[i] stored k×m when transA), op(b[i]) is k×n (stored n×k when transB);
//   a[i] starts at i·strideA (0 broadcasts one matrix), likewise b; c[i] at i·m·n;
//   bias: a Float32Array of n, or null.
napi_value JsGemm(napi_env env, napi_callback_info cb) {
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

  Gemm(a.data, b.data, c.data, Product{batch, m, n, k, ta, tb, sa, sb}, bias.data, false, nullptr);
  return nullptr;
}

// gatherRows(table, indices, out, cols): out[i] = table row indices[i] (rows of `cols` floats);
// the embedding lookup. An index outside the table throws (as tfjs's cpu backend does).
napi_value JsGatherRows(napi_env env, napi_callback_info cb) {
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
  }
  GatherRows(table.data, idx.data, out.data, static_cast<int64_t>(idx.length), cols);
  return nullptr;
}

// layerNorm(x, gamma, beta, y, mean, rstd, rows, cols, eps): per row of x [rows, cols],
//   y = (x − μ)·rstd·γ + β with rstd = 1/√(σ² + eps); μ and rstd are kept for the gradient.
napi_value JsLayerNorm(napi_env env, napi_callback_info cb) {
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
  LayerNorm(x.data, g.data, be.data, y.data, mu.data, rs.data, rows, cols, eps);
  return nullptr;
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols), with x̂ = (x − μ)·rstd
// and ĝ = dy·γ: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)); dγ = Σ_rows dy·x̂; dβ = Σ_rows dy.
napi_value JsLayerNormGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "layerNormGrad", 10);
  F32 dy = args.Array("dy"), x = args.Array("x"), g = args.Array("gamma"), mu = args.Array("mean"), rs = args.Array("rstd");
  F32 dx = args.Array("dx"), dg = args.Array("dgamma"), db = args.Array("dbeta");
  const int64_t rows = args.Int("rows"), cols = args.Int("cols");
  for (auto* a : {&dy, &x, &dx}) args.Need(*a, rows * cols, "dy/x/dx");
  for (auto* a : {&g, &dg, &db}) args.Need(*a, cols, "gamma/dgamma/dbeta");
  args.Need(mu, rows, "mean");
  args.Need(rs, rows, "rstd");
  if (!args.ok()) return nullptr;
  if (cols == 0) return nullptr;
  LayerNormGrad(dy.data, x.data, g.data, mu.data, rs.data, dx.data, dg.data, db.data, rows, cols);
  return nullptr;
}

// gelu(x, y): BERT's exact GELU, y = x·Φ(x) = ½x(1 + erf(x/√2)).
napi_value JsGelu(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "gelu", 2);
  F32 x = args.Array("x"), y = args.Array("y");
  args.Need(y, x.length, "y");
  if (!args.ok()) return nullptr;
  Gelu(x.data, y.data, x.length);
  return nullptr;
}

// geluGrad(x, dy, dx): dx = dy·(Φ(x) + x·φ(x)), φ the standard normal density.
napi_value JsGeluGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "geluGrad", 3);
  F32 x = args.Array("x"), dy = args.Array("dy"), dx = args.Array("dx");
  args.Need(dy, x.length, "dy");
  args.Need(dx, x.length, "dx");
  if (!args.ok()) return nullptr;
  GeluGrad(x.data, dy.data, dx.data, x.length);
  return nullptr;
}

// dropout(x, y, rate, seed): y = x / (1 − rate) where u(seed, i) >= rate, else 0, with
// u = Mix(seed, i)/2³² uniform in [0, 1). Its gradient is the same call on dy with the same seed.
napi_value JsDropout(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "dropout", 4);
  F32 x = args.Array("x"), y = args.Array("y");
  const double rate = args.Num("rate");
  const int64_t seed = args.Int("seed");
  args.Need(y, x.length, "y");
  if (!(rate >= 0 && rate < 1)) args.Fail("rate must be in [0, 1)");
  if (x.length > UINT32_MAX) args.Fail("more than 2^32 elements");
  if (!args.ok()) return nullptr;
  Dropout(x.data, y.data, x.length, rate, static_cast<uint32_t>(seed));
  return nullptr;
}

// maskedSoftmax(scores, bias, y, batch, heads, seq, scale): attention probabilities.
//   scores [batch, heads, seq, seq], bias [batch, seq] (0 where attended, −10000 at padding):
//   y = softmax over the last axis of scale·scores + bias[b] (broadcast over heads and queries).
napi_value JsMaskedSoftmax(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "maskedSoftmax", 7);
  F32 sc = args.Array("scores"), bias = args.Array("bias"), y = args.Array("y");
  const int64_t batch = args.Int("batch"), heads = args.Int("heads"), seq = args.Int("seq");
  const float scale = static_cast<float>(args.Num("scale"));
  args.Need(sc, batch * heads * seq * seq, "scores");
  args.Need(y, batch * heads * seq * seq, "y");
  args.Need(bias, batch * seq, "bias");
  if (!args.ok()) return nullptr;
  if (seq == 0) return nullptr;
  MaskedSoftmax(sc.data, bias.data, y.data, batch, heads, seq, scale);
  return nullptr;
}

// softmaxGrad(y, dy, dx, rows, cols, scale): the gradient of scale·x → softmax over the last
// axis, from its output y: dx = scale·y·(dy − Σ_j dy·y).
napi_value JsSoftmaxGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "softmaxGrad", 6);
  F32 y = args.Array("y"), dy = args.Array("dy"), dx = args.Array("dx");
  const int64_t rows = args.Int("rows"), cols = args.Int("cols");
  const float scale = static_cast<float>(args.Num("scale"));
  for (auto* a : {&y, &dy, &dx}) args.Need(*a, rows * cols, "y/dy/dx");
  if (!args.ok()) return nullptr;
  SoftmaxGrad(y.data, dy.data, dx.data, rows, cols, scale);
  return nullptr;
}

// sum(x, out, outer, inner, leading): x viewed as [outer, inner]; leading: out[j] = Σ_i x[i, j]
// (the bias gradient's reduction over rows), else out[i] = Σ_j x[i, j].
napi_value JsSum(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "sum", 5);
  F32 x = args.Array("x"), out = args.Array("out");
  const int64_t outer = args.Int("outer"), inner = args.Int("inner");
  const bool leading = args.Bool("leading");
  args.Need(x, outer * inner, "x");
  args.Need(out, leading ? inner : outer, "out");
  if (!args.ok()) return nullptr;
  Sum(x.data, out.data, outer, inner, leading);
  return nullptr;
}

// adamw(p, m, v, g, pOut, mOut, vOut, lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale):
// torch.optim.AdamW's update, in the order src/train/optimizer.ts writes it:
//   g ← g·gradScale; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
//   p ← p·(1 − lr·λ) − lr·(m/bc1)/(√(v/bc2) + ε).
napi_value JsAdamW(napi_env env, napi_callback_info cb) {
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
  AdamW({AdamWEntry{p.data, m.data, v.data, g.data, p.length, wd, bc1, bc2}}, AdamWHyper{lr, b1, b2, eps, gs}, false, po.data, mo.data, vo.data);
  return nullptr;
}

// dense(x, w, b, y, pre, rows, in, out): y = x·w + b for x [rows, in], w [in, out], b [out];
//   with pre (a Float32Array of rows·out, else null), pre = x·w + b and y = GELU(pre).
napi_value JsDense(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "dense", 8);
  F32 x = args.Array("x"), w = args.Array("w"), b = args.Array("b"), y = args.Array("y"), pre = args.Array("pre", true);
  const int64_t rows = args.Int("rows"), in = args.Int("in"), out = args.Int("out");
  args.Need(x, rows * in, "x");
  args.Need(w, in * out, "w");
  args.Need(b, out, "b");
  args.Need(y, rows * out, "y");
  if (pre.data) args.Need(pre, rows * out, "pre");
  if (!args.ok()) return nullptr;
  Gemm(x.data, w.data, y.data, Product{1, rows, out, in, false, false, 0, 0}, b.data, pre.data != nullptr, pre.data);
  return nullptr;
}

// denseGrad(dy, x, w, pre, dx, dw, db, rows, in, out): dense's gradient (through GELU at pre when
//   given): dz = dy (·GELU'(pre)); dx = dz·wᵀ, dw = xᵀ·dz, db = Σ_rows dz.
napi_value JsDenseGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "denseGrad", 10);
  F32 dy = args.Array("dy"), x = args.Array("x"), w = args.Array("w"), pre = args.Array("pre", true);
  F32 dx = args.Array("dx"), dw = args.Array("dw"), db = args.Array("db");
  const int64_t rows = args.Int("rows"), in = args.Int("in"), out = args.Int("out");
  args.Need(dy, rows * out, "dy");
  args.Need(x, rows * in, "x");
  args.Need(dx, rows * in, "dx");
  args.Need(w, in * out, "w");
  args.Need(dw, in * out, "dw");
  args.Need(db, out, "db");
  if (pre.data) args.Need(pre, rows * out, "pre");
  if (!args.ok()) return nullptr;
  thread_local std::vector<float> scratch;
  if (pre.data && scratch.size() < static_cast<size_t>(rows * out)) scratch.resize(static_cast<size_t>(rows * out));
  DenseGrad(dy.data, x.data, w.data, pre.data, dx.data, dw.data, db.data, rows, in, out, scratch.data());
  return nullptr;
}

// Shared checks of attention and attentionGrad: [batch·seq, hidden] operands, heads dividing hidden.
bool AttentionShape(Args& args, std::initializer_list<F32*> mats, const F32& probs, int64_t batch, int64_t heads, int64_t seq, int64_t hidden, double rate) {
  for (F32* a : mats) args.Need(*a, batch * seq * hidden, "q/k/v/ctx");
  args.Need(probs, batch * heads * seq * seq, "probs");
  if (args.ok() && (heads == 0 || hidden % heads != 0)) args.Fail("heads must divide hidden");
  if (args.ok() && !(rate >= 0 && rate < 1)) args.Fail("rate must be in [0, 1)");
  if (args.ok() && batch * heads * seq * seq > UINT32_MAX) args.Fail("more than 2^32 attention probabilities");
  return args.ok() && batch * seq > 0;
}

// attention(q, k, v, bias, probs, ctx, batch, heads, seq, hidden, scale, rate, seed): multi-head
//   attention on projections q, k, v [batch·seq, hidden] with bias [batch, seq] (kernels.h).
napi_value JsAttention(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "attention", 13);
  F32 q = args.Array("q"), k = args.Array("k"), v = args.Array("v"), bias = args.Array("bias"), probs = args.Array("probs"), ctx = args.Array("ctx");
  const int64_t batch = args.Int("batch"), heads = args.Int("heads"), seq = args.Int("seq"), hidden = args.Int("hidden");
  const float scale = static_cast<float>(args.Num("scale"));
  const double rate = args.Num("rate");
  const int64_t seed = args.Int("seed");
  args.Need(bias, batch * seq, "bias");
  if (!AttentionShape(args, {&q, &k, &v, &ctx}, probs, batch, heads, seq, hidden, rate)) return nullptr;
  Attention(q.data, k.data, v.data, bias.data, probs.data, ctx.data, batch, heads, seq, hidden, scale, rate, static_cast<uint32_t>(seed));
  return nullptr;
}

// attentionGrad(dctx, q, k, v, probs, dq, dk, dv, batch, heads, seq, hidden, scale, rate, seed).
napi_value JsAttentionGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "attentionGrad", 15);
  F32 dctx = args.Array("dctx"), q = args.Array("q"), k = args.Array("k"), v = args.Array("v"), probs = args.Array("probs");
  F32 dq = args.Array("dq"), dk = args.Array("dk"), dv = args.Array("dv");
  const int64_t batch = args.Int("batch"), heads = args.Int("heads"), seq = args.Int("seq"), hidden = args.Int("hidden");
  const float scale = static_cast<float>(args.Num("scale"));
  const double rate = args.Num("rate");
  const int64_t seed = args.Int("seed");
  if (!AttentionShape(args, {&dctx, &q, &k, &v, &dq, &dk, &dv}, probs, batch, heads, seq, hidden, rate)) return nullptr;
  AttentionGrad(dctx.data, q.data, k.data, v.data, probs.data, dq.data, dk.data, dv.data, batch, heads, seq, hidden, scale, rate, static_cast<uint32_t>(seed));
  return nullptr;
}

// Checks labels [rows] against classes; true when they are all inside.
bool CheckLabels(Args& args, const I32& labels, int64_t rows, int64_t classes) {
  if (args.ok() && static_cast<int64_t>(labels.length) < rows) args.Fail("labels has " + std::to_string(labels.length) + " elements, needs " + std::to_string(rows));
  for (int64_t r = 0; args.ok() && r < rows; r++) {
    if (labels.data[r] < 0 || labels.data[r] >= classes)
      args.Fail("label " + std::to_string(labels.data[r]) + " at position " + std::to_string(r) + " is outside the " + std::to_string(classes) + " classes");
  }
  return args.ok();
}

// softmaxXent(logits, labels, lse, loss, rows, classes): loss[0] = mean over rows of
//   lse − logits[label], lse[r] = log Σ_j exp(logits[r, j]) (kept for the gradient).
napi_value JsSoftmaxXent(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "softmaxXent", 6);
  F32 logits = args.Array("logits");
  I32 labels = args.IntArray("labels");
  F32 lse = args.Array("lse"), loss = args.Array("loss");
  const int64_t rows = args.Int("rows"), classes = args.Int("classes");
  args.Need(logits, rows * classes, "logits");
  args.Need(lse, rows, "lse");
  args.Need(loss, 1, "loss");
  if (args.ok() && (rows == 0 || classes == 0)) args.Fail("needs at least one row and one class");
  if (!CheckLabels(args, labels, rows, classes)) return nullptr;
  loss.data[0] = SoftmaxXent(logits.data, labels.data, lse.data, rows, classes);
  return nullptr;
}

// softmaxXentGrad(logits, labels, lse, dloss, dlogits, rows, classes):
//   dlogits = dloss·(softmax(logits) − onehot(labels))/rows.
napi_value JsSoftmaxXentGrad(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "softmaxXentGrad", 7);
  F32 logits = args.Array("logits");
  I32 labels = args.IntArray("labels");
  F32 lse = args.Array("lse");
  const float dloss = static_cast<float>(args.Num("dloss"));
  F32 dlogits = args.Array("dlogits");
  const int64_t rows = args.Int("rows"), classes = args.Int("classes");
  args.Need(logits, rows * classes, "logits");
  args.Need(dlogits, rows * classes, "dlogits");
  args.Need(lse, rows, "lse");
  if (!CheckLabels(args, labels, rows, classes)) return nullptr;
  SoftmaxXentGrad(logits.data, labels.data, lse.data, dloss, dlogits.data, rows, classes);
  return nullptr;
}

// adamwInPlace(ps, ms, vs, gs, perTensor, lr, beta1, beta2, eps, gradScale): adamw's update of
//   every tensor i, written over ps[i], ms[i], vs[i]; perTensor holds (weightDecay, bc1, bc2) of
//   each. One call for all of a step's parameters, the blocks of all of them spread over the pool.
napi_value JsAdamWInPlace(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "adamwInPlace", 10);
  std::vector<F32> ps, ms, vs, gs;
  args.ArrayList("ps", &ps);
  args.ArrayList("ms", &ms);
  args.ArrayList("vs", &vs);
  args.ArrayList("gs", &gs);
  F32 per = args.Array("perTensor");
  AdamWHyper h{};
  h.lr = static_cast<float>(args.Num("lr"));
  h.beta1 = static_cast<float>(args.Num("beta1"));
  h.beta2 = static_cast<float>(args.Num("beta2"));
  h.eps = static_cast<float>(args.Num("eps"));
  h.gradScale = static_cast<float>(args.Num("gradScale"));
  if (args.ok() && (ms.size() != ps.size() || vs.size() != ps.size() || gs.size() != ps.size())) args.Fail("ps, ms, vs and gs must have the same length");
  args.Need(per, 3 * ps.size(), "perTensor");
  std::vector<AdamWEntry> entries;
  for (size_t i = 0; args.ok() && i < ps.size(); i++) {
    const size_t n = ps[i].length;
    if (ms[i].length != n || vs[i].length != n || gs[i].length != n) args.Fail("tensor " + std::to_string(i) + ": p, m, v and g must have the same length");
    entries.push_back(AdamWEntry{ps[i].data, ms[i].data, vs[i].data, gs[i].data, n, per.data[3 * i], per.data[3 * i + 1], per.data[3 * i + 2]});
  }
  if (!args.ok()) return nullptr;
  AdamW(entries, h, true, nullptr, nullptr, nullptr);
  return nullptr;
}

// residual(x, r, out, divisor): out = x + r/divisor, x null: out = r/divisor (PLD's rescaled branch).
napi_value JsResidual(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "residual", 4);
  F32 x = args.Array("x", true), r = args.Array("r"), out = args.Array("out");
  const float divisor = static_cast<float>(args.Num("divisor"));
  args.Need(out, r.length, "out");
  if (x.data) args.Need(x, r.length, "x");
  if (!args.ok()) return nullptr;
  Residual(x.data, r.data, out.data, r.length, divisor);
  return nullptr;
}

// addN(xs, out): out = xs[0] + xs[1] + … elementwise (same lengths), added in list order.
napi_value JsAddN(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "addN", 2);
  std::vector<F32> xs;
  args.ArrayList("xs", &xs);
  F32 out = args.Array("out");
  if (args.ok() && xs.empty()) args.Fail("xs must hold at least one array");
  for (size_t i = 0; args.ok() && i < xs.size(); i++) {
    if (xs[i].length != out.length) args.Fail("xs[" + std::to_string(i) + "] has " + std::to_string(xs[i].length) + " elements, out " + std::to_string(out.length));
  }
  if (!args.ok()) return nullptr;
  std::vector<const float*> ptrs;
  for (const F32& x : xs) ptrs.push_back(x.data);
  AddN(ptrs, out.data, out.length);
  return nullptr;
}

// sumSquares(xs, out): out[i] = Σ xs[i]² (gradient norms).
napi_value JsSumSquares(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "sumSquares", 2);
  std::vector<F32> xs;
  args.ArrayList("xs", &xs);
  F32 out = args.Array("out");
  args.Need(out, xs.size(), "out");
  if (!args.ok()) return nullptr;
  std::vector<const float*> ptrs;
  std::vector<size_t> ns;
  for (const F32& x : xs) {
    ptrs.push_back(x.data);
    ns.push_back(x.length);
  }
  std::vector<double> sums(xs.size());
  SumSquares(ptrs, ns, sums.data());
  for (size_t i = 0; i < xs.size(); i++) out.data[i] = static_cast<float>(sums[i]);
  return nullptr;
}

// sgemmAlone(m, n, k, transA, transB, threads, reps) → ms per product: cblas_sgemm on its own
//   (OpenBLAS's own threads, on operands of small random values), the roofline of `pld bench`.
napi_value JsSgemmAlone(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "sgemmAlone", 7);
  const int64_t m = args.Int("m"), n = args.Int("n"), k = args.Int("k");
  const bool ta = args.Bool("transA"), tb = args.Bool("transB");
  const int64_t threads = args.Int("threads"), reps = args.Int("reps");
  if (args.ok() && (threads < 1 || reps < 1 || m * n * k == 0)) args.Fail("m, n, k, threads and reps must be >= 1");
  if (!args.ok()) return nullptr;
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)), c(static_cast<size_t>(m * n));
  for (size_t i = 0; i < a.size(); i++) a[i] = static_cast<float>(Mix(1, static_cast<uint32_t>(i)) >> 8) / 16777216.f - 0.5f;
  for (size_t i = 0; i < b.size(); i++) b[i] = static_cast<float>(Mix(2, static_cast<uint32_t>(i)) >> 8) / 16777216.f - 0.5f;
  const double ms = SgemmAloneMs(a.data(), b.data(), c.data(), m, n, k, ta, tb, static_cast<int>(threads), static_cast<int>(reps));
  napi_value out;
  napi_create_double(env, ms, &out);
  return out;
}

napi_value JsSetThreads(napi_env env, napi_callback_info cb) {
  Args args(env, cb, "setThreads", 1);
  const int64_t n = args.Int("threads");
  if (args.ok() && n < 1) args.Fail("threads must be >= 1");
  if (!args.ok()) return nullptr;
  // The pool owns the cores; OpenBLAS runs single-threaded inside its blocks (pool.h).
  openblas_set_num_threads(1);
  SetPoolThreads(static_cast<int>(n));
  return nullptr;
}

// info() → { blas: 'OpenBLAS 0.3.21 …', core: 'SkylakeX', threads: 1 }
napi_value JsInfo(napi_env env, napi_callback_info) {
  napi_value obj, blas, core, threads;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &blas);
  napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core);
  napi_create_int32(env, PoolThreads(), &threads);
  napi_set_named_property(env, obj, "blas", blas);
  napi_set_named_property(env, obj, "core", core);
  napi_set_named_property(env, obj, "threads", threads);
  return obj;
}

constexpr napi_property_descriptor Method(const char* name, napi_callback fn) {
  return {name, nullptr, fn, nullptr, nullptr, nullptr, napi_default, nullptr};
}

napi_value Init(napi_env env, napi_value exports) {
  openblas_set_num_threads(1);
  const napi_property_descriptor props[] = {
      Method("gemm", JsGemm),
      Method("gatherRows", JsGatherRows),
      Method("layerNorm", JsLayerNorm),
      Method("layerNormGrad", JsLayerNormGrad),
      Method("gelu", JsGelu),
      Method("geluGrad", JsGeluGrad),
      Method("dropout", JsDropout),
      Method("maskedSoftmax", JsMaskedSoftmax),
      Method("softmaxGrad", JsSoftmaxGrad),
      Method("sum", JsSum),
      Method("adamw", JsAdamW),
      Method("adamwInPlace", JsAdamWInPlace),
      Method("sumSquares", JsSumSquares),
      Method("addN", JsAddN),
      Method("residual", JsResidual),
      Method("dense", JsDense),
      Method("denseGrad", JsDenseGrad),
      Method("attention", JsAttention),
      Method("attentionGrad", JsAttentionGrad),
      Method("softmaxXent", JsSoftmaxXent),
      Method("softmaxXentGrad", JsSoftmaxXentGrad),
      Method("sgemmAlone", JsSgemmAlone),
      Method("setThreads", JsSetThreads),
      Method("info", JsInfo),
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace pld_native

NAPI_MODULE(NODE_GYP_MODULE_NAME, pld_native::Init)
