/**
 * Kernels the kit registers for tfjs's webgpu backend, in WGSL, through tfjs's kernel registry:
 * the fused kernels of fused.ts (their contract) and a deterministic embedding gradient. Each is
 * one or a few compute passes over memory where the composed tfjs ops take a dozen, as DeepSpeed's
 * transformer kernels fuse LayerNorm, GELU, softmax and dropout, and its FusedAdam the optimizer.
 *
 * Each kernel is a program for the package's `runWebGPUProgram`: it declares its inputs
 * (`variableNames`, bound as read-only `array<f32>`/`array<i32>` of the same names), writes
 * `result` (one output per program: a kernel with three outputs runs three programs), and gets
 * its sizes as uniforms, never baked into the shader, so one compiled pipeline serves every
 * shape (the pipeline cache key is `shaderKey` plus ranks and dtypes).
 *
 * Numerics follow native/src/addon.cc, the wasm side of the same contract: the same erf
 * (Abramowitz & Stegun 7.1.28), the same dropout hash of (seed, element index), the same AdamW
 * expression order; row reductions are tree sums in workgroup memory instead of a loop, so
 * results agree with wasm to rounding, and the dropout masks exactly.
 *
 * The embedding gradient: tf.gather's gradient here is ScatterNd (src/model/ops.ts), which the
 * package computes with atomic float adds, so the sum of a repeated token's rows comes out in a
 * different order each run. The replacement below sums every row in index order (as the cpu
 * backend does), so two runs from one seed give the same bits.
 */
import * as tf from '@tensorflow/tfjs';
import { AdamWAttrs, FUSED } from './fused';

type TensorInfo = tf.TensorInfo;
type Inputs = Record<string, TensorInfo | undefined>;

/** The shape of a program as tfjs-backend-webgpu's `WebGPUProgram` declares it (library boundary). */
interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms?: string;
  size?: boolean;
  getUserCode(): string;
}
type Uniform = { type: 'float32' | 'int32' | 'uint32'; data: number[] };
interface WebGpuBackendLike {
  runWebGPUProgram(p: Program, inputs: TensorInfo[], dtype: tf.DataType, uniforms?: Uniform[]): TensorInfo;
  disposeData(dataId: object): boolean;
}

const WG = 64;

/** One thread per output element (`index`), `uniforms.size` of them. */
function elementwise(key: string, names: string[], shape: number[], uniforms: string, body: string): Program {
  const size = tf.util.sizeFromShape(shape);
  return {
    variableNames: names,
    outputShape: shape,
    shaderKey: `pld_${key}`,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WG), 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms,
    size: true,
    getUserCode: () => `
      ${HELPERS}
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        ${body}
      }`,
  };
}

/**
 * One workgroup of WG threads per row (`row`, `tid`; `nrows` rows of `uniforms.cols`). A workgroup
 * past the last row (the dispatch may be padded to fit the device's limits) reads and writes
 * nothing but still takes part in every barrier, which WGSL requires to be reached uniformly.
 */
function perRow(
  key: string,
  names: string[],
  outShape: number[],
  rows: number,
  uniforms: string,
  body: string,
): Program {
  return {
    variableNames: names,
    outputShape: outShape,
    shaderKey: `pld_${key}`,
    dispatchLayout: { x: outShape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [WG, 1, 1],
    uniforms: `nrows : i32, cols : i32, ${uniforms}`,
    getUserCode: () => `
      ${HELPERS}
      var<workgroup> red : array<f32, ${WG}>;
      fn wgSum(v : f32, tid : i32) -> f32 {
        red[tid] = v;
        workgroupBarrier();
        for (var s = ${WG / 2}; s > 0; s = s >> 1u) {
          if (tid < s) { red[tid] = red[tid] + red[tid + s]; }
          workgroupBarrier();
        }
        let total = red[0];
        workgroupBarrier();
        return total;
      }
      fn wgMax(v : f32, tid : i32) -> f32 {
        red[tid] = v;
        workgroupBarrier();
        for (var s = ${WG / 2}; s > 0; s = s >> 1u) {
          if (tid < s) { red[tid] = max(red[tid], red[tid + s]); }
          workgroupBarrier();
        }
        let total = red[0];
        workgroupBarrier();
        return total;
      }
      fn main(index : i32) {
        let row = index / ${WG};
        let tid = index - row * ${WG};
        let cols = select(0, uniforms.cols, row < uniforms.nrows);
        let base = row * uniforms.cols;
        ${body}
      }`,
  };
}

/**
 * Column sums over rows (LayerNorm's dγ and dβ): workgroups of 32 columns × 8 lanes; a lane sums
 * every 8th row, then the lanes are added in workgroup memory. Adjacent threads read adjacent
 * columns, so each row is read in whole cache lines.
 */
function perColumn(key: string, names: string[], cols: number, uniforms: string, term: string): Program {
  return {
    variableNames: names,
    outputShape: [cols],
    shaderKey: `pld_${key}`,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(cols / 32), 1, 1],
    workgroupSize: [256, 1, 1],
    uniforms: `nrows : i32, cols : i32, ${uniforms}`,
    getUserCode: () => `
      var<workgroup> red : array<f32, 256>;
      fn main(index : i32) {
        let group = index / 256;
        let tid = index - group * 256;
        let lane = tid / 32;
        let c = group * 32 + (tid - lane * 32);
        let valid = c < uniforms.cols;
        var acc = 0.0;
        if (valid) {
          for (var r = lane; r < uniforms.nrows; r = r + 8) {
            let i = r * uniforms.cols + c;
            acc = acc + ${term};
          }
        }
        red[tid] = acc;
        workgroupBarrier();
        for (var s = 4; s > 0; s = s >> 1u) {
          if (lane < s) { red[tid] = red[tid] + red[tid + s * 32]; }
          workgroupBarrier();
        }
        if (lane == 0 && valid) { setOutputAtIndex(c, red[tid]); }
      }`,
  };
}

const HELPERS = `
  // erf, Abramowitz & Stegun 7.1.28, the same polynomial as native/src/math.h's Erf (WGSL cannot
  // share C++ code; the same formula keeps GELU bit-compatible across the two backends).
  fn pldErf(z : f32) -> f32 {
    let az = abs(z);
    var q = 0.0000430638;
    q = q * az + 0.0002765672;
    q = q * az + 0.0001520143;
    q = q * az + 0.0092705272;
    q = q * az + 0.0422820123;
    q = q * az + 0.0705230784;
    q = q * az + 1.0;
    q = q * q;
    q = q * q;
    q = q * q;
    q = q * q;
    let e = 1.0 - 1.0 / q;
    return select(e, -e, z < 0.0);
  }
  // murmur3's 32-bit finaliser of (seed, index), as native/src/addon.cc's Mix.
  fn pldMix(seed : u32, i : u32) -> u32 {
    var h = (i * 0x9E3779B9u) ^ seed;
    h = h ^ (h >> 16u);
    h = h * 0x85EBCA6Bu;
    h = h ^ (h >> 13u);
    h = h * 0xC2B2AE35u;
    h = h ^ (h >> 16u);
    return h;
  }
`;

// One uniform per scalar: the package packs a multi-value entry as a vector, aligned as one.
const f32 = (...data: number[]): Uniform[] => data.map((x) => ({ type: 'float32', data: [x] }));
const i32 = (...data: number[]): Uniform[] => data.map((x) => ({ type: 'int32', data: [x] }));
const u32 = (...data: number[]): Uniform[] => data.map((x) => ({ type: 'uint32', data: [x] }));

function input(inputs: Inputs, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: input ${name} is required`);
  if (t.dtype !== 'float32') throw new Error(`${kernel}: input ${name} must be float32, got ${t.dtype}`);
  return t;
}

function rowsCols(x: TensorInfo): [number, number] {
  const cols = x.shape[x.shape.length - 1];
  return [tf.util.sizeFromShape(x.shape) / cols, cols];
}

type Kernel = (backend: WebGpuBackendLike, inputs: Inputs, attrs: tf.NamedAttrMap) => TensorInfo | TensorInfo[];

const fused: Record<string, Kernel> = {
  [FUSED.layerNorm]: (b, inputs, attrs) => {
    const [x, gamma, beta] = ['x', 'gamma', 'beta'].map((n) => input(inputs, n, FUSED.layerNorm));
    const [rows, cols] = rowsCols(x);
    const rc = i32(rows, cols);
    const mean = b.runWebGPUProgram(
      perRow(
        'ln_mean',
        ['x'],
        [rows],
        rows,
        '',
        `
        var s = 0.0;
        for (var j = tid; j < cols; j = j + ${WG}) { s = s + x[base + j]; }
        let total = wgSum(s, tid);
        if (tid == 0 && cols > 0) { setOutputAtIndex(row, total / f32(cols)); }`,
      ),
      [x],
      'float32',
      rc,
    );
    const rstd = b.runWebGPUProgram(
      perRow(
        'ln_rstd',
        ['x', 'mean'],
        [rows],
        rows,
        'eps : f32,',
        `
        let mu = mean[min(row, uniforms.nrows - 1)];
        var s = 0.0;
        for (var j = tid; j < cols; j = j + ${WG}) { let d = x[base + j] - mu; s = s + d * d; }
        let total = wgSum(s, tid);
        if (tid == 0 && cols > 0) { setOutputAtIndex(row, 1.0 / sqrt(total / f32(cols) + uniforms.eps)); }`,
      ),
      [x, mean],
      'float32',
      [...rc, ...f32(attrs.eps as number)],
    );
    const y = b.runWebGPUProgram(
      elementwise(
        'ln_y',
        ['x', 'mean', 'rstd', 'gamma', 'beta'],
        x.shape,
        'cols : i32,',
        `
        let r = index / uniforms.cols;
        let c = index - r * uniforms.cols;
        setOutputAtIndex(index, (x[index] - mean[r]) * rstd[r] * gamma[c] + beta[c]);`,
      ),
      [x, mean, rstd, gamma, beta],
      'float32',
      i32(cols),
    );
    return [y, mean, rstd];
  },

  [FUSED.layerNormGrad]: (b, inputs) => {
    const [dy, x, gamma, mean, rstd] = ['dy', 'x', 'gamma', 'mean', 'rstd'].map((n) =>
      input(inputs, n, FUSED.layerNormGrad),
    );
    const [rows, cols] = rowsCols(x);
    const rc = i32(rows, cols);
    // dx = rstd·(dy·γ − mean_j(dy·γ) − x̂·mean_j(dy·γ·x̂)), x̂ = (x − μ)·rstd.
    const dx = b.runWebGPUProgram(
      perRow(
        'ln_dx',
        ['dy', 'x', 'gamma', 'mean', 'rstd'],
        x.shape,
        rows,
        '',
        `
        let r = min(row, uniforms.nrows - 1);
        let mu = mean[r];
        let rs = rstd[r];
        var sg = 0.0;
        var sgx = 0.0;
        for (var j = tid; j < cols; j = j + ${WG}) {
          let gh = dy[base + j] * gamma[j];
          sg = sg + gh;
          sgx = sgx + gh * (x[base + j] - mu) * rs;
        }
        let mg = wgSum(sg, tid) / f32(max(cols, 1));
        let mgx = wgSum(sgx, tid) / f32(max(cols, 1));
        for (var j = tid; j < cols; j = j + ${WG}) {
          let xh = (x[base + j] - mu) * rs;
          setOutputAtIndex(base + j, rs * (dy[base + j] * gamma[j] - mg - xh * mgx));
        }`,
      ),
      [dy, x, gamma, mean, rstd],
      'float32',
      rc,
    );
    const dgamma = b.runWebGPUProgram(
      perColumn('ln_dgamma', ['dy', 'x', 'mean', 'rstd'], cols, '', 'dy[i] * (x[i] - mean[r]) * rstd[r]'),
      [dy, x, mean, rstd],
      'float32',
      rc,
    );
    const dbeta = b.runWebGPUProgram(perColumn('ln_dbeta', ['dy'], cols, '', 'dy[i]'), [dy], 'float32', rc);
    return [dx, dgamma, dbeta];
  },

  [FUSED.gelu]: (b, inputs) => {
    const x = input(inputs, 'x', FUSED.gelu);
    return b.runWebGPUProgram(
      elementwise(
        'gelu',
        ['x'],
        x.shape,
        '',
        `
        let v = x[index];
        setOutputAtIndex(index, 0.5 * v * (1.0 + pldErf(v * 0.70710678118654752)));`,
      ),
      [x],
      'float32',
    );
  },

  [FUSED.geluGrad]: (b, inputs) => {
    const [x, dy] = ['x', 'dy'].map((n) => input(inputs, n, FUSED.geluGrad));
    return b.runWebGPUProgram(
      elementwise(
        'gelu_grad',
        ['x', 'dy'],
        x.shape,
        '',
        `
        let v = x[index];
        let cdf = 0.5 * (1.0 + pldErf(v * 0.70710678118654752));
        let pdf = 0.39894228040143268 * exp(-0.5 * v * v);
        setOutputAtIndex(index, dy[index] * (cdf + v * pdf));`,
      ),
      [x, dy],
      'float32',
    );
  },

  [FUSED.dropout]: (b, inputs, attrs) => {
    const x = input(inputs, 'x', FUSED.dropout);
    const rate = attrs.rate as number;
    const seed = attrs.seed as number;
    if (!(rate >= 0 && rate < 1)) throw new Error(`${FUSED.dropout}: rate must be in [0, 1), got ${rate}`);
    if (tf.util.sizeFromShape(x.shape) > 2 ** 32) throw new Error(`${FUSED.dropout}: more than 2^32 elements`);
    // Keep where the top 24 bits of the hash are >= rate·2²⁴, as the native kernel decides.
    const threshold = Math.ceil(rate * 16777216);
    return b.runWebGPUProgram(
      elementwise(
        'dropout',
        ['x'],
        x.shape,
        'seed : u32, threshold : u32, scale : f32,',
        `
        let keep = (pldMix(uniforms.seed, u32(index)) >> 8u) >= uniforms.threshold;
        setOutputAtIndex(index, select(0.0, x[index] * uniforms.scale, keep));`,
      ),
      [x],
      'float32',
      [...u32(seed >>> 0, threshold), ...f32(1 / (1 - rate))],
    );
  },

  [FUSED.maskedSoftmax]: (b, inputs, attrs) => {
    const [scores, bias] = ['scores', 'bias'].map((n) => input(inputs, n, FUSED.maskedSoftmax));
    const [batch, heads, seq, seq2] = scores.shape;
    if (scores.shape.length !== 4 || seq !== seq2 || bias.shape.join() !== [batch, seq].join()) {
      throw new Error(
        `${FUSED.maskedSoftmax}: scores must be [batch, heads, seq, seq] and bias [batch, seq], got [${scores.shape}] and [${bias.shape}]`,
      );
    }
    const rows = batch * heads * seq;
    return b.runWebGPUProgram(
      perRow(
        'masked_softmax',
        ['scores', 'bias'],
        scores.shape,
        rows,
        'rowsPerBatch : i32, scale : f32,',
        `
        let bbase = (row / uniforms.rowsPerBatch) * uniforms.cols;
        var mx = -3.402823e+38;
        for (var j = tid; j < cols; j = j + ${WG}) { mx = max(mx, uniforms.scale * scores[base + j] + bias[bbase + j]); }
        let m = wgMax(mx, tid);
        var s = 0.0;
        for (var j = tid; j < cols; j = j + ${WG}) { s = s + exp(uniforms.scale * scores[base + j] + bias[bbase + j] - m); }
        let inv = 1.0 / wgSum(s, tid);
        for (var j = tid; j < cols; j = j + ${WG}) {
          setOutputAtIndex(base + j, exp(uniforms.scale * scores[base + j] + bias[bbase + j] - m) * inv);
        }`,
      ),
      [scores, bias],
      'float32',
      [...i32(rows, seq, heads * seq), ...f32(attrs.scale as number)],
    );
  },

  [FUSED.softmaxGrad]: (b, inputs, attrs) => {
    const [y, dy] = ['y', 'dy'].map((n) => input(inputs, n, FUSED.softmaxGrad));
    const [rows, cols] = rowsCols(y);
    return b.runWebGPUProgram(
      perRow(
        'softmax_grad',
        ['y', 'dy'],
        y.shape,
        rows,
        'scale : f32,',
        `
        var s = 0.0;
        for (var j = tid; j < cols; j = j + ${WG}) { s = s + dy[base + j] * y[base + j]; }
        let total = wgSum(s, tid);
        for (var j = tid; j < cols; j = j + ${WG}) {
          setOutputAtIndex(base + j, uniforms.scale * y[base + j] * (dy[base + j] - total));
        }`,
      ),
      [y, dy],
      'float32',
      [...i32(rows, cols), ...f32(attrs.scale as number)],
    );
  },

  [FUSED.adamw]: (b, inputs, attrs) => {
    const [p, m, v, g] = ['p', 'm', 'v', 'g'].map((n) => input(inputs, n, FUSED.adamw));
    const a = attrs as unknown as AdamWAttrs;
    // torch.optim.AdamW in native/src/addon.cc's order: g ← g·gradScale; m ← β1·m + (1−β1)·g;
    // v ← β2·v + (1−β2)·g²; p ← p·(1 − lr·λ) − (m/bc1)/(√(v/bc2) + ε)·lr. Three passes, one per
    // output; the last reads the new moments.
    const hyper = 'lr : f32, beta1 : f32, beta2 : f32, eps : f32, wd : f32, bc1 : f32, bc2 : f32, gs : f32,';
    const u = f32(a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.bc1, a.bc2, a.gradScale);
    const m1 = b.runWebGPUProgram(
      elementwise(
        'adamw_m',
        ['m', 'g'],
        p.shape,
        hyper,
        `
        let gi = g[index] * uniforms.gs;
        setOutputAtIndex(index, m[index] * uniforms.beta1 + gi * (1.0 - uniforms.beta1));`,
      ),
      [m, g],
      'float32',
      u,
    );
    const v1 = b.runWebGPUProgram(
      elementwise(
        'adamw_v',
        ['v', 'g'],
        p.shape,
        hyper,
        `
        let gi = g[index] * uniforms.gs;
        setOutputAtIndex(index, v[index] * uniforms.beta2 + gi * gi * (1.0 - uniforms.beta2));`,
      ),
      [v, g],
      'float32',
      u,
    );
    const p1 = b.runWebGPUProgram(
      elementwise(
        'adamw_p',
        ['p', 'm', 'v'],
        p.shape,
        hyper,
        `
        let decay = 1.0 - uniforms.lr * uniforms.wd;
        setOutputAtIndex(index, p[index] * decay - (m[index] / uniforms.bc1) / (sqrt(v[index] / uniforms.bc2) + uniforms.eps) * uniforms.lr);`,
      ),
      [p, m1, v1],
      'float32',
      u,
    );
    return [p1, m1, v1];
  },
};

/**
 * ScatterNd of rows ([N, D] updates at [N, 1] row indices into [V, D]), summed in index order:
 * `head[r]` is the first n with indices[n] = r, `next[n]` the next one after n, and each output
 * element walks its row's chain. Other shapes and dtypes go to the package's kernel.
 */
function scatterRows(b: WebGpuBackendLike, indices: TensorInfo, updates: TensorInfo, shape: number[]): TensorInfo {
  const [n, d] = updates.shape;
  const v = shape[0];
  const head = b.runWebGPUProgram(
    elementwise(
      'scatter_head',
      ['indices'],
      [v],
      'n : i32,',
      `
      var h = -1;
      for (var k = 0; k < uniforms.n; k = k + 1) { if (indices[k] == index) { h = k; break; } }
      setOutputAtIndexI32(index, h);`,
    ),
    [indices],
    'int32',
    i32(n),
  );
  const next = b.runWebGPUProgram(
    elementwise(
      'scatter_next',
      ['indices'],
      [n],
      '',
      `
      let t = indices[index];
      var h = -1;
      for (var k = index + 1; k < uniforms.size; k = k + 1) { if (indices[k] == t) { h = k; break; } }
      setOutputAtIndexI32(index, h);`,
    ),
    [indices],
    'int32',
  );
  const out = b.runWebGPUProgram(
    elementwise(
      'scatter_sum',
      ['updates', 'head', 'chain'],
      [v, d],
      'd : i32,',
      `
      let r = index / uniforms.d;
      let c = index - r * uniforms.d;
      var k = head[r];
      var acc = 0.0;
      loop {
        if (k < 0) { break; }
        acc = acc + updates[k * uniforms.d + c];
        k = chain[k];
      }
      setOutputAtIndex(index, acc);`,
    ),
    [updates, head, next],
    'float32',
    i32(d),
  );
  b.disposeData(head.dataId);
  b.disposeData(next.dataId);
  return out;
}

let originalScatterNd: tf.KernelConfig | undefined;

function scatterNdKernel(args: Parameters<tf.KernelFunc>[0]): TensorInfo {
  const b = args.backend as unknown as WebGpuBackendLike;
  const { indices, updates } = args.inputs as Inputs;
  const { shape } = (args.attrs ?? {}) as { shape: number[] };
  const rows =
    indices &&
    updates &&
    indices.dtype === 'int32' &&
    updates.dtype === 'float32' &&
    indices.shape.length === 2 &&
    indices.shape[1] === 1 &&
    updates.shape.length === 2 &&
    shape.length === 2 &&
    updates.shape[0] === indices.shape[0] &&
    updates.shape[1] === shape[1];
  if (!rows) return (originalScatterNd as tf.KernelConfig).kernelFunc(args) as TensorInfo;
  return scatterRows(b, indices, updates, shape);
}

/** Registers the kit's webgpu kernels (after the webgpu backend is registered; idempotent). */
export function installWebGpuKernels(): void {
  for (const [name, k] of Object.entries(fused)) {
    if (tf.getKernel(name, 'webgpu')) continue;
    tf.registerKernel({
      kernelName: name,
      backendName: 'webgpu',
      kernelFunc: (args) => k(args.backend as unknown as WebGpuBackendLike, args.inputs as Inputs, args.attrs ?? {}),
    });
  }
  if (!originalScatterNd) {
    originalScatterNd = tf.getKernel('ScatterNd', 'webgpu');
    if (!originalScatterNd)
      throw new Error('tfjs-backend-webgpu has no ScatterNd kernel; reinstall dependencies with `npm ci`');
    tf.unregisterKernel('ScatterNd', 'webgpu');
    tf.registerKernel({ ...originalScatterNd, kernelFunc: scatterNdKernel });
  }
}
