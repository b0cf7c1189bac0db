/**
 * Kernels the kit registers for tfjs's wasm backend, through tfjs's public kernel registry
 * (`tf.registerKernel`): replacements for a few of the package's own, and the fused kernels of
 * fused.ts. Fixing the backend at the kernel level fixes it for every caller (the model,
 * fine-tuning, a user's own tf.matMul), so model code can use tf.matMul and tf.fused.matMul as
 * they are. Two paths:
 *
 *  - `native` (the kit's addon is built, native.ts):
 *      BatchMatMul, _FusedMatMul  OpenBLAS sgemm on the operands in place on the wasm heap;
 *                                 transposes and batch broadcasting cost nothing. The package
 *                                 sends only un-transposed 2-D products to XNNPACK (128-bit SIMD,
 *                                 ~12 GMAC/s here) and runs every batched or transposed one —
 *                                 attention, and both gradients of every product — in a scalar
 *                                 loop at ~1 GMAC/s (`batch_mat_mul_impl.cc`).
 *      Sum                        reductions over leading or trailing axes in one pass.
 *      GatherV2                   row lookups (axis 0: embeddings, masked positions) as memcpy.
 *      Add, AddN                  same-shape sums (residuals, gradient accumulation) on all threads.
 *      the fused kernels          LayerNorm, GELU, dropout, masked softmax, AdamW, dense layers
 *                                 with their GELU, attention per (batch, head), softmax
 *                                 cross-entropy, AdamW over all parameters, gradient norms.
 *      All of them run on the addon's thread pool (PLD_THREADS threads), in fixed blocks, so
 *      results do not depend on the thread count.
 *  - `xnnpack` (no addon): a transposed operand is transposed explicitly first, and a batched
 *    product runs as one 2-D product per batch entry on views of the operands' memory, so every
 *    product reaches XNNPACK (2-D: 10–20× faster than the flags; the reference step's attention
 *    products 3.4× faster than the package's batched loop, the whole step 1450 → 1080 ms).
 *
 * Both paths: Identity shares its input's memory instead of copying it. tfjs-core clones every
 * tensor it saves for the backward pass through Identity; the cpu backend shares (tensors are
 * immutable), the wasm package copies, ~50 ms of memcpy per step of the benchmark model.
 *
 * Anything a replacement does not handle (other dtypes, general broadcasting, fused activations
 * other than linear, reductions over inner axes) goes to the package's original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { NativeKernels } from './native';
import { AdamWAttrs, AttentionAttrs, FUSED } from './fused';

export type WasmKernelPath = 'native' | 'xnnpack';

type KernelArgs = Parameters<tf.KernelFunc>[0];
type TensorInfo = tf.TensorInfo;
type Inputs = Record<string, TensorInfo | undefined>;

const REPLACED = ['BatchMatMul', '_FusedMatMul', 'Sum', 'GatherV2', 'Identity', 'Add', 'AddN'] as const;
/** The package's own configs, kept so the replacements can call them and be undone. */
const originals = new Map<string, tf.KernelConfig>();
let installed: WasmKernelPath | undefined;

/** The path the wasm kernels take now (undefined before `installWasmKernels`). */
export function wasmKernelPath(): WasmKernelPath | undefined {
  return installed;
}

function original(name: string): tf.KernelConfig {
  return originals.get(name) ?? tf.getKernel(name, 'wasm');
}

function runOriginal(name: string, args: KernelArgs): TensorInfo {
  return original(name).kernelFunc(args) as TensorInfo;
}

function input(inputs: Inputs, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: input ${name} is required`);
  if (t.dtype !== 'float32') throw new Error(`${kernel}: input ${name} must be float32, got ${t.dtype}`);
  return t;
}

/** Views on the wasm heap; take them after the last makeOutput (an allocation can replace the memory). */
function viewer(backend: BackendWasm): (t: TensorInfo) => Float32Array {
  return (t) => backend.typedArrayFromHeap(t) as Float32Array;
}

// ---- matrix products ------------------------------------------------------------------------

/** Shapes of one (possibly batched, possibly transposed) product, or null to fall back. */
interface Product {
  batch: number;
  m: number;
  n: number;
  k: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

function productOf(a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): Product | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const kA = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (kA !== kB) {
    throw new Error(
      `matMul: inner dimensions ${kA} and ${kB} of shapes [${a.shape}] and [${b.shape}] (transposeA=${transA}, transposeB=${transB}) must match`,
    );
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = tf.util.sizeFromShape(outer);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  // One operand repeated over the other's batch is a stride of 0; other broadcasts fall back.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  return {
    batch,
    m,
    n,
    k: kA,
    strideA: batchA === 1 ? 0 : m * kA,
    strideB: batchB === 1 ? 0 : kA * n,
    outShape: [...outer, m, n],
  };
}

function transposed(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return runOriginal('Transpose', { inputs: { x }, backend, attrs: { perm } });
}

/**
 * A batched product as one 2-D product per batch entry, each on views of its operands' memory
 * (`makeOutput` with an existing offset), so the package sends every one to XNNPACK instead of its
 * scalar batched loop. The views are released without freeing the memory they point into.
 */
function slicedProduct(backend: BackendWasm, a: TensorInfo, b: TensorInfo, p: Product): TensorInfo {
  const out = backend.makeOutput(p.outShape, 'float32');
  const offset = (t: TensorInfo): number => backend.getMemoryOffset(t.dataId);
  const views: TensorInfo[] = [];
  const view = (t: TensorInfo, elems: number, shape: number[]): TensorInfo => {
    const v = backend.makeOutput(shape, 'float32', offset(t) + 4 * elems);
    views.push(v);
    return v;
  };
  try {
    const bShared = p.strideB === 0 ? view(b, 0, [p.k, p.n]) : null;
    for (let i = 0; i < p.batch; i++) {
      const ai = view(a, i * p.strideA, [p.m, p.k]);
      const bi = bShared ?? view(b, i * p.strideB, [p.k, p.n]);
      const r = runOriginal('BatchMatMul', {
        inputs: { a: ai, b: bi },
        backend,
        attrs: { transposeA: false, transposeB: false },
      });
      // Views are made after every allocation: one can grow (and replace) the wasm memory.
      (backend.typedArrayFromHeap(out) as Float32Array).set(
        backend.typedArrayFromHeap(r) as Float32Array,
        i * p.m * p.n,
      );
      backend.disposeData(r.dataId);
    }
  } finally {
    for (const v of views) {
      const d = backend.dataIdMap.get(v.dataId);
      if (d) backend.wasm.tfjs.disposeData(d.id);
      backend.dataIdMap.delete(v.dataId);
    }
  }
  return out;
}

function matMulKernel(name: 'BatchMatMul' | '_FusedMatMul', native: NativeKernels | null): tf.KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { a, b, bias, preluActivationWeights } = args.inputs as Inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: string };
    const transA = attrs.transposeA === true;
    const transB = attrs.transposeB === true;
    if (!a || !b) throw new Error(`${name}: inputs a and b are required`);
    if (native) {
      const p = productOf(a, b, transA, transB);
      const linear = name === 'BatchMatMul' || ((attrs.activation ?? 'linear') === 'linear' && !preluActivationWeights);
      const biasOk =
        !bias || (bias.dtype === 'float32' && bias.shape.length === 1 && p !== null && bias.shape[0] === p.n);
      if (p && linear && biasOk) {
        const out = backend.makeOutput(p.outShape, 'float32');
        const v = viewer(backend);
        native.gemm(
          v(a),
          v(b),
          v(out),
          p.batch,
          p.m,
          p.n,
          p.k,
          transA,
          transB,
          p.strideA,
          p.strideB,
          bias ? v(bias) : null,
        );
        return out;
      }
    }
    // Explicit transposes, then the package's kernel without flags, one 2-D product per batch entry.
    const ta = transA ? transposed(backend, a) : a;
    const tb = transB ? transposed(backend, b) : b;
    try {
      const p = name === 'BatchMatMul' ? productOf(ta, tb, false, false) : null;
      if (p && p.batch > 1) return slicedProduct(backend, ta, tb, p);
      if (ta === a && tb === b) return runOriginal(name, args);
      return runOriginal(name, {
        ...args,
        inputs: { ...args.inputs, a: ta, b: tb },
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      if (ta !== a) backend.disposeData(ta.dataId);
      if (tb !== b) backend.disposeData(tb.dataId);
    }
  };
}

// ---- reductions and copies ------------------------------------------------------------------

function sumKernel(native: NativeKernels | null): tf.KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const x = (args.inputs as Inputs).x;
    const { axis, keepDims } = (args.attrs ?? {}) as { axis: number | number[]; keepDims: boolean };
    if (!native || !x || x.dtype !== 'float32' || x.shape.length === 0) return runOriginal('Sum', args);
    const r = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    const contiguous = axes.every((ax, i) => i === 0 || ax === axes[i - 1] + 1);
    const leading = axes.length > 0 && axes[0] === 0;
    const trailing = axes.length > 0 && axes[axes.length - 1] === r - 1;
    if (!contiguous || !(leading || trailing)) return runOriginal('Sum', args);
    const split = leading ? axes.length : r - axes.length;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, split));
    const inner = tf.util.sizeFromShape(x.shape.slice(split));
    const kept = x.shape.filter((_, i) => !axes.includes(i));
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept;
    const out = backend.makeOutput(outShape, 'float32');
    const v = viewer(backend);
    native.sum(v(x), v(out), outer, inner, leading);
    return out;
  };
}

function gatherKernel(native: NativeKernels | null): tf.KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { x, indices } = args.inputs as Inputs;
    const { axis, batchDims } = (args.attrs ?? {}) as { axis: number; batchDims: number };
    if (!native || !x || !indices || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length === 0)
      return runOriginal('GatherV2', args);
    if (tf.util.parseAxisParam(axis, x.shape)[0] !== 0 || (batchDims ?? 0) !== 0) return runOriginal('GatherV2', args);
    const cols = tf.util.sizeFromShape(x.shape.slice(1));
    const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
    const v = viewer(backend);
    native.gatherRows(v(x), backend.typedArrayFromHeap(indices) as Int32Array, v(out), cols);
    return out;
  };
}

/** Add and AddN of float32 tensors of one shape on the addon's pool; anything else (broadcasting, other dtypes) goes to the package. */
function addKernel(name: 'Add' | 'AddN', native: NativeKernels | null): tf.KernelFunc {
  return (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const inputs = args.inputs as Inputs;
    const xs = (name === 'Add' ? [inputs.a, inputs.b] : Object.values(inputs)) as (TensorInfo | undefined)[];
    const first = xs[0];
    const same =
      first !== undefined &&
      xs.every((t) => t !== undefined && t.dtype === 'float32' && t.shape.join() === first.shape.join());
    if (!native || !same || !first) return runOriginal(name, args);
    const out = backend.makeOutput(first.shape, 'float32');
    const v = viewer(backend);
    native.addN((xs as TensorInfo[]).map(v), v(out));
    return out;
  };
}

function identityKernel(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const x = (args.inputs as Inputs).x;
  if (!x || x.dtype === 'string') return runOriginal('Identity', args);
  // Same as the package's Reshape: one more reference to the same memory.
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

// ---- fused kernels (fused.ts has their contract) --------------------------------------------

function fusedKernels(
  native: NativeKernels,
): Record<string, (backend: BackendWasm, inputs: Inputs, attrs: tf.NamedAttrMap) => TensorInfo | TensorInfo[]> {
  return {
    [FUSED.layerNorm]: (backend, inputs, attrs) => {
      const [x, gamma, beta] = ['x', 'gamma', 'beta'].map((n) => input(inputs, n, FUSED.layerNorm));
      const cols = x.shape[x.shape.length - 1];
      const rows = tf.util.sizeFromShape(x.shape) / cols;
      const y = backend.makeOutput(x.shape, 'float32');
      const mean = backend.makeOutput([rows], 'float32');
      const rstd = backend.makeOutput([rows], 'float32');
      const v = viewer(backend);
      native.layerNorm(v(x), v(gamma), v(beta), v(y), v(mean), v(rstd), rows, cols, attrs.eps as number);
      return [y, mean, rstd];
    },
    [FUSED.layerNormGrad]: (backend, inputs) => {
      const [dy, x, gamma, mean, rstd] = ['dy', 'x', 'gamma', 'mean', 'rstd'].map((n) =>
        input(inputs, n, FUSED.layerNormGrad),
      );
      const cols = x.shape[x.shape.length - 1];
      const rows = tf.util.sizeFromShape(x.shape) / cols;
      const dx = backend.makeOutput(x.shape, 'float32');
      const dgamma = backend.makeOutput(gamma.shape, 'float32');
      const dbeta = backend.makeOutput(gamma.shape, 'float32');
      const v = viewer(backend);
      native.layerNormGrad(v(dy), v(x), v(gamma), v(mean), v(rstd), v(dx), v(dgamma), v(dbeta), rows, cols);
      return [dx, dgamma, dbeta];
    },
    [FUSED.gelu]: (backend, inputs) => {
      const x = input(inputs, 'x', FUSED.gelu);
      const y = backend.makeOutput(x.shape, 'float32');
      const v = viewer(backend);
      native.gelu(v(x), v(y));
      return y;
    },
    [FUSED.geluGrad]: (backend, inputs) => {
      const [x, dy] = ['x', 'dy'].map((n) => input(inputs, n, FUSED.geluGrad));
      const dx = backend.makeOutput(x.shape, 'float32');
      const v = viewer(backend);
      native.geluGrad(v(x), v(dy), v(dx));
      return dx;
    },
    [FUSED.dropout]: (backend, inputs, attrs) => {
      const x = input(inputs, 'x', FUSED.dropout);
      const y = backend.makeOutput(x.shape, 'float32');
      const v = viewer(backend);
      native.dropout(v(x), v(y), attrs.rate as number, attrs.seed as number);
      return y;
    },
    [FUSED.maskedSoftmax]: (backend, inputs, attrs) => {
      const [scores, bias] = ['scores', 'bias'].map((n) => input(inputs, n, FUSED.maskedSoftmax));
      const [batch, heads, seq, seq2] = scores.shape;
      if (scores.shape.length !== 4 || seq !== seq2 || bias.shape.join() !== [batch, seq].join()) {
        throw new Error(
          `${FUSED.maskedSoftmax}: scores must be [batch, heads, seq, seq] and bias [batch, seq], got [${scores.shape}] and [${bias.shape}]`,
        );
      }
      const y = backend.makeOutput(scores.shape, 'float32');
      const v = viewer(backend);
      native.maskedSoftmax(v(scores), v(bias), v(y), batch, heads, seq, attrs.scale as number);
      return y;
    },
    [FUSED.softmaxGrad]: (backend, inputs, attrs) => {
      const [y, dy] = ['y', 'dy'].map((n) => input(inputs, n, FUSED.softmaxGrad));
      const cols = y.shape[y.shape.length - 1];
      const dx = backend.makeOutput(y.shape, 'float32');
      const v = viewer(backend);
      native.softmaxGrad(v(y), v(dy), v(dx), tf.util.sizeFromShape(y.shape) / cols, cols, attrs.scale as number);
      return dx;
    },
    [FUSED.adamw]: (backend, inputs, attrs) => {
      const [p, m, vv, g] = ['p', 'm', 'v', 'g'].map((n) => input(inputs, n, FUSED.adamw));
      const a = attrs as unknown as AdamWAttrs;
      const outs = [
        backend.makeOutput(p.shape, 'float32'),
        backend.makeOutput(p.shape, 'float32'),
        backend.makeOutput(p.shape, 'float32'),
      ];
      const v = viewer(backend);
      native.adamw(
        v(p),
        v(m),
        v(vv),
        v(g),
        v(outs[0]),
        v(outs[1]),
        v(outs[2]),
        a.lr,
        a.beta1,
        a.beta2,
        a.eps,
        a.weightDecay,
        a.bc1,
        a.bc2,
        a.gradScale,
      );
      return outs;
    },
    [FUSED.dense]: (backend, inputs, attrs) => {
      const [x, w, b] = ['x', 'w', 'b'].map((n) => input(inputs, n, FUSED.dense));
      const [rows, inDim] = x.shape;
      const outDim = w.shape[1];
      if (x.shape.length !== 2 || w.shape.length !== 2 || w.shape[0] !== inDim || b.shape.join() !== String(outDim)) {
        throw new Error(
          `${FUSED.dense}: x must be [rows, in], w [in, out] and b [out], got [${x.shape}], [${w.shape}] and [${b.shape}]`,
        );
      }
      const gelu = attrs.activation === 'gelu';
      const y = backend.makeOutput([rows, outDim], 'float32');
      const z = gelu ? backend.makeOutput([rows, outDim], 'float32') : null;
      const v = viewer(backend);
      native.dense(v(x), v(w), v(b), v(y), z ? v(z) : null, rows, inDim, outDim);
      return z ? [y, z] : [y];
    },
    [FUSED.denseGrad]: (backend, inputs) => {
      const [dy, x, w] = ['dy', 'x', 'w'].map((n) => input(inputs, n, FUSED.denseGrad));
      const z = inputs.z ? input(inputs, 'z', FUSED.denseGrad) : null;
      const [rows, inDim] = x.shape;
      const outDim = w.shape[1];
      const outs = [
        backend.makeOutput(x.shape, 'float32'),
        backend.makeOutput(w.shape, 'float32'),
        backend.makeOutput([outDim], 'float32'),
      ];
      const v = viewer(backend);
      native.denseGrad(v(dy), v(x), v(w), z ? v(z) : null, v(outs[0]), v(outs[1]), v(outs[2]), rows, inDim, outDim);
      return outs;
    },
    [FUSED.attention]: (backend, inputs, attrs) => {
      const [q, k, vv, bias] = ['q', 'k', 'v', 'bias'].map((n) => input(inputs, n, FUSED.attention));
      const a = attrs as unknown as AttentionAttrs;
      const [batch, seq] = bias.shape;
      const hidden = q.shape[1];
      if (
        q.shape.length !== 2 ||
        bias.shape.length !== 2 ||
        q.shape[0] !== batch * seq ||
        k.shape.join() !== q.shape.join() ||
        vv.shape.join() !== q.shape.join()
      ) {
        throw new Error(
          `${FUSED.attention}: q, k and v must be [batch·seq, hidden] and bias [batch, seq], got [${q.shape}], [${k.shape}], [${vv.shape}] and [${bias.shape}]`,
        );
      }
      const ctx = backend.makeOutput(q.shape, 'float32');
      const probs = backend.makeOutput([batch, a.heads, seq, seq], 'float32');
      const v = viewer(backend);
      native.attention(
        v(q),
        v(k),
        v(vv),
        v(bias),
        v(probs),
        v(ctx),
        batch,
        a.heads,
        seq,
        hidden,
        a.scale,
        a.rate,
        a.seed,
      );
      return [ctx, probs];
    },
    [FUSED.attentionGrad]: (backend, inputs, attrs) => {
      const [dctx, q, k, vv, probs] = ['dctx', 'q', 'k', 'v', 'probs'].map((n) =>
        input(inputs, n, FUSED.attentionGrad),
      );
      const a = attrs as unknown as AttentionAttrs;
      const [batch, , seq] = probs.shape;
      const outs = [0, 1, 2].map(() => backend.makeOutput(q.shape, 'float32'));
      const v = viewer(backend);
      native.attentionGrad(
        v(dctx),
        v(q),
        v(k),
        v(vv),
        v(probs),
        v(outs[0]),
        v(outs[1]),
        v(outs[2]),
        batch,
        a.heads,
        seq,
        q.shape[1],
        a.scale,
        a.rate,
        a.seed,
      );
      return outs;
    },
    [FUSED.softmaxXent]: (backend, inputs) => {
      const logits = input(inputs, 'logits', FUSED.softmaxXent);
      const labels = labelsInput(inputs, logits, FUSED.softmaxXent);
      const [rows, classes] = logits.shape;
      const loss = backend.makeOutput([], 'float32');
      const lse = backend.makeOutput([rows], 'float32');
      const v = viewer(backend);
      native.softmaxXent(v(logits), backend.typedArrayFromHeap(labels) as Int32Array, v(lse), v(loss), rows, classes);
      return [loss, lse];
    },
    [FUSED.softmaxXentGrad]: (backend, inputs) => {
      const [logits, lse, dloss] = ['logits', 'lse', 'dloss'].map((n) => input(inputs, n, FUSED.softmaxXentGrad));
      const labels = labelsInput(inputs, logits, FUSED.softmaxXentGrad);
      const [rows, classes] = logits.shape;
      const d = backend.makeOutput(logits.shape, 'float32');
      const v = viewer(backend);
      native.softmaxXentGrad(
        v(logits),
        backend.typedArrayFromHeap(labels) as Int32Array,
        v(lse),
        v(dloss)[0],
        v(d),
        rows,
        classes,
      );
      return d;
    },
    [FUSED.adamwInPlace]: (backend, inputs, attrs) => {
      const n = Object.keys(inputs).length / 4;
      const a = attrs as unknown as AdamWAttrs & { perTensor: number[] };
      const updated = backend.makeOutput([n], 'int32');
      const flags = backend.typedArrayFromHeap(updated) as Int32Array;
      const v = viewer(backend);
      const lists: Float32Array[][] = [[], [], [], []];
      const per: number[] = [];
      for (let i = 0; i < n; i++) {
        const [p, m, vv, g] = ['p', 'm', 'v', 'g'].map((x) => input(inputs, `${x}${i}`, FUSED.adamwInPlace));
        // Writing over a buffer that another tensor shares (a clone, a reshape) would change it too.
        const alone = [p, m, vv].every((t) => backend.refCount(t.dataId) === 1);
        flags[i] = alone ? 1 : 0;
        if (!alone) continue;
        [p, m, vv, g].forEach((t, j) => lists[j].push(v(t)));
        per.push(a.perTensor[3 * i], a.perTensor[3 * i + 1], a.perTensor[3 * i + 2]);
      }
      native.adamwInPlace(
        lists[0],
        lists[1],
        lists[2],
        lists[3],
        Float32Array.from(per),
        a.lr,
        a.beta1,
        a.beta2,
        a.eps,
        a.gradScale,
      );
      return updated;
    },
    [FUSED.residual]: (backend, inputs, attrs) => {
      const r = input(inputs, 'r', FUSED.residual);
      const x = inputs.x ? input(inputs, 'x', FUSED.residual) : null;
      if (x && x.shape.join() !== r.shape.join())
        throw new Error(`${FUSED.residual}: x and r must have one shape, got [${x.shape}] and [${r.shape}]`);
      const out = backend.makeOutput(r.shape, 'float32');
      const v = viewer(backend);
      native.residual(x ? v(x) : null, v(r), v(out), attrs.divisor as number);
      return out;
    },
    [FUSED.sumSquares]: (backend, inputs) => {
      const xs = Object.keys(inputs).map((_, i) => input(inputs, `x${i}`, FUSED.sumSquares));
      const out = backend.makeOutput([xs.length], 'float32');
      const v = viewer(backend);
      native.sumSquares(xs.map(v), v(out));
      return out;
    },
  };
}

function labelsInput(inputs: Inputs, logits: TensorInfo, kernel: string): TensorInfo {
  const labels = inputs.labels;
  if (
    !labels ||
    labels.dtype !== 'int32' ||
    labels.shape.length !== 1 ||
    logits.shape.length !== 2 ||
    labels.shape[0] !== logits.shape[0]
  ) {
    throw new Error(
      `${kernel}: logits must be [rows, classes] float32 and labels [rows] int32, got [${logits.shape}] and ${labels ? `[${labels.shape}] ${labels.dtype}` : 'none'}`,
    );
  }
  return labels;
}

function register(kernelName: string, kernelFunc: tf.KernelFunc, setup?: tf.KernelConfig): void {
  if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({
    kernelName,
    backendName: 'wasm',
    kernelFunc,
    setupFunc: setup?.setupFunc,
    disposeFunc: setup?.disposeFunc,
  });
}

/**
 * Registers the kit's wasm kernels on one path (after the wasm backend is initialised; calling
 * again switches). The package's setup functions stay attached, so a later rebuild of the wasm
 * backend (another thread count) still initialises the kernels the replacements fall back to.
 */
export function installWasmKernels(path: WasmKernelPath, native: NativeKernels | null): void {
  if (path === 'native' && !native) throw new Error("installWasmKernels: the 'native' path needs the native kernels");
  const nat = path === 'native' ? native : null;
  for (const name of REPLACED) if (!originals.has(name)) originals.set(name, tf.getKernel(name, 'wasm'));
  register('BatchMatMul', matMulKernel('BatchMatMul', nat), original('BatchMatMul'));
  register('_FusedMatMul', matMulKernel('_FusedMatMul', nat), original('_FusedMatMul'));
  register('Sum', sumKernel(nat), original('Sum'));
  register('GatherV2', gatherKernel(nat), original('GatherV2'));
  register('Identity', identityKernel, original('Identity'));
  register('Add', addKernel('Add', nat), original('Add'));
  register('AddN', addKernel('AddN', nat), original('AddN'));
  const fused = nat ? fusedKernels(nat) : {};
  for (const name of Object.values(FUSED)) {
    const f = fused[name];
    if (f) register(name, (args) => f(args.backend as BackendWasm, args.inputs as Inputs, args.attrs ?? {}));
    else if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
  }
  installed = path;
}
