/**
 * The kit's native addon (`native/`, package `pld-native`): matrix products in OpenBLAS and
 * fused kernels for the wasm backend (registered by wasm-kernels.ts), run on the addon's own
 * thread pool. It is an
 * optional dependency built from source on install (node-gyp, g++ and OpenBLAS's headers: Debian
 * `libopenblas-dev`); where it is missing the kit runs on the wasm backend's own kernels and says why.
 */

export interface NativeInfo {
  /** OpenBLAS's build string, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64`. */
  blas: string;
  /** The kernel family OpenBLAS picked for this CPU, e.g. `SkylakeX` (AVX-512) or `Haswell` (AVX2). */
  core: string;
  threads: number;
}

/** What the addon exports (native/src/addon.cc documents each function). */
export interface NativeKernels {
  /**
   * c[i] = op(a[i])·op(b[i]) (+ bias per row) for i < batch, row-major; op(a[i]) is m×k and stored
   * k×m when transA; op(b[i]) is k×n, stored n×k when transB; a stride of 0 broadcasts.
   */
  gemm(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    strideA: number,
    strideB: number,
    bias: Float32Array | null,
  ): void;
  /** out[i] = row indices[i] of table (rows of `cols` floats); throws on an index outside the table. */
  gatherRows(table: Float32Array, indices: Int32Array, out: Float32Array, cols: number): void;
  /** Per row of x [rows, cols]: y = (x − μ)·rstd·γ + β; writes μ and rstd [rows]. */
  layerNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  layerNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    rows: number,
    cols: number,
  ): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** y = x/(1 − rate) where hash(seed, i) keeps element i, else 0. */
  dropout(x: Float32Array, y: Float32Array, rate: number, seed: number): void;
  /** y = softmax(scale·scores + bias[b]) over the last axis; scores [batch, heads, seq, seq], bias [batch, seq]. */
  maskedSoftmax(
    scores: Float32Array,
    bias: Float32Array,
    y: Float32Array,
    batch: number,
    heads: number,
    seq: number,
    scale: number,
  ): void;
  /** dx = scale·y·(dy − Σ dy·y) per row. */
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number, scale: number): void;
  /** x as [outer, inner]: leading sums over outer (out has inner entries), else over inner. */
  sum(x: Float32Array, out: Float32Array, outer: number, inner: number, leading: boolean): void;
  adamw(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    bc1: number,
    bc2: number,
    gradScale: number,
  ): void;
  /** y = x·w + b, x [rows, in], w [in, out]; with pre: pre = x·w + b and y = GELU(pre). */
  dense(
    x: Float32Array,
    w: Float32Array,
    b: Float32Array,
    y: Float32Array,
    pre: Float32Array | null,
    rows: number,
    inDim: number,
    outDim: number,
  ): void;
  /** dz = dy (·GELU'(pre) when given); dx = dz·wᵀ, dw = xᵀ·dz, db = Σ_rows dz. */
  denseGrad(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    pre: Float32Array | null,
    dx: Float32Array,
    dw: Float32Array,
    db: Float32Array,
    rows: number,
    inDim: number,
    outDim: number,
  ): void;
  /** Per (batch, head) of q, k, v [batch·seq, hidden]: probs = softmax(scale·q·kᵀ + bias[b]), ctx = dropout(probs)·v. */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    bias: Float32Array,
    probs: Float32Array,
    ctx: Float32Array,
    batch: number,
    heads: number,
    seq: number,
    hidden: number,
    scale: number,
    rate: number,
    seed: number,
  ): void;
  attentionGrad(
    dctx: Float32Array,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    probs: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    batch: number,
    heads: number,
    seq: number,
    hidden: number,
    scale: number,
    rate: number,
    seed: number,
  ): void;
  /** loss[0] = mean_r (lse[r] − logits[r, labels[r]]), lse[r] = log Σ exp logits[r]. */
  softmaxXent(
    logits: Float32Array,
    labels: Int32Array,
    lse: Float32Array,
    loss: Float32Array,
    rows: number,
    classes: number,
  ): void;
  softmaxXentGrad(
    logits: Float32Array,
    labels: Int32Array,
    lse: Float32Array,
    dloss: number,
    dlogits: Float32Array,
    rows: number,
    classes: number,
  ): void;
  /** adamw over every tensor i, written over ps[i], ms[i], vs[i]; perTensor = (weightDecay, bc1, bc2) per tensor. */
  adamwInPlace(
    ps: Float32Array[],
    ms: Float32Array[],
    vs: Float32Array[],
    gs: Float32Array[],
    perTensor: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    gradScale: number,
  ): void;
  /** out = x + r/divisor; r/divisor when x is null. */
  residual(x: Float32Array | null, r: Float32Array, out: Float32Array, divisor: number): void;
  /** out = xs[0] + xs[1] + … elementwise (same lengths), in list order. */
  addN(xs: Float32Array[], out: Float32Array): void;
  /** out[i] = Σ xs[i]². */
  sumSquares(xs: Float32Array[], out: Float32Array): void;
  /** Mean ms per product of cblas_sgemm alone at this shape on `threads` OpenBLAS threads, over `reps` products. */
  sgemmAlone(m: number, n: number, k: number, transA: boolean, transB: boolean, threads: number, reps: number): number;
  /** Sizes the addon's thread pool (OpenBLAS runs single-threaded inside its blocks). */
  setThreads(threads: number): void;
  info(): NativeInfo;
}

export type NativeLoad = { ok: true; kernels: NativeKernels } | { ok: false; why: string };

const BUILD_HINT = 'build it with `apt-get install libopenblas-dev` (and g++), then `npm rebuild pld-native`';

let cached: NativeLoad | undefined;

/** Loads the addon once; `why` says what is missing and how to build it. */
export function loadNativeKernels(): NativeLoad {
  if (cached) return cached;
  try {
    // Library boundary: the addon's exports are typed by NativeKernels above.
    cached = { ok: true, kernels: require('pld-native') as NativeKernels };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    const why = /Cannot find module 'pld-native'/.test(msg)
      ? 'the native kernels (pld-native) are not installed'
      : /Cannot find module/.test(msg)
        ? 'the native kernels (pld-native) were not built'
        : `the native kernels failed to load: ${msg}`;
    cached = { ok: false, why: `${why}; ${BUILD_HINT}` };
  }
  return cached;
}
