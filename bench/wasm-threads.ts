/**
 * Single- vs multi-threaded tfjs wasm in Node (see docs/wasm-threads.md).
 *
 *   npx tsc -p tsconfig.json --outDir .build-wasm && node .build-wasm/bench/wasm-threads.js
 *
 * Env: PLD_BENCH_THREADS (the multi-thread count, default os.availableParallelism()),
 * PLD_BENCH_ROUNDS (rounds, default 3), PLD_BENCH_ITERS (timed iterations per workload and
 * round, default 20). Configurations alternate round by round (1, N, 1, N, …) in one process so
 * that background load hits both alike; cells are the median and the minimum over all timed
 * iterations (on a shared machine the minimum is the closer estimate of an idle machine).
 * `cpu/wall` is process CPU time over wall time: ~1 for one busy thread, ~N when N threads
 * really run in parallel, less when something else on the machine takes the cores.
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { initWasm, WasmInitResult } from '../src/backend/wasm-threads';
import { median } from '../src/util/stats';
import { parseWholeNumber } from '../src/util/parse';

interface Workload {
  name: string;
  /** Builds inputs/variables; returns the step to time (must block until the result is computed) and a cleanup. */
  setup(): { step: () => void; dispose: () => void };
}

function syncAll(ts: tf.Tensor | tf.Tensor[]): void {
  for (const t of Array.isArray(ts) ? ts : [ts]) t.dataSync();
}

/**
 * matMul whose gradient uses explicit transposes and plain 2-D matMuls. tfjs-core's own gradient
 * calls matMul with transposeA/transposeB, and tfjs-backend-wasm runs every transposed or batched
 * matMul in `slow_batch_matmul` (a scalar loop, no XNNPACK, no threads); only the plain 2-D
 * product goes to XNNPACK's threaded fully-connected operator.
 */
const matMulXnn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1] as tf.Tensor2D)),
      tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), dy as tf.Tensor2D),
    ],
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

function mlpStep(name: string, mm: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D): Workload {
  return {
    name,
    setup() {
      const x = tf.randomNormal([128, 512], 0, 1, 'float32', 5) as tf.Tensor2D;
      const y = tf.randomNormal([128, 512], 0, 1, 'float32', 6);
      const w1 = tf.variable(tf.randomNormal([512, 2048], 0, 0.02, 'float32', 7)) as tf.Variable<tf.Rank.R2>;
      const b1 = tf.variable(tf.zeros([2048]));
      const w2 = tf.variable(tf.randomNormal([2048, 512], 0, 0.02, 'float32', 8)) as tf.Variable<tf.Rank.R2>;
      const b2 = tf.variable(tf.zeros([512]));
      const opt = tf.train.sgd(1e-3);
      const loss = (): tf.Scalar => {
        const h = tf.relu(tf.add(mm(x, w1), b1)) as tf.Tensor2D;
        const out = tf.add(mm(h, w2), b2);
        return tf.mean(tf.square(tf.sub(out, y)));
      };
      return {
        step: () => {
          const l = opt.minimize(loss, true, [w1, b1, w2, b2]);
          l?.dataSync();
          l?.dispose();
          w2.dataSync();
        },
        dispose: () => {
          tf.dispose([x, y, w1, b1, w2, b2]);
          opt.dispose();
        },
      };
    },
  };
}

const WORKLOADS: Workload[] = [
  {
    name: 'matMul 512x512 · 512x512',
    setup() {
      const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
      const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
      return {
        step: () => tf.tidy(() => syncAll(tf.matMul(a, b))),
        dispose: () => tf.dispose([a, b]),
      };
    },
  },
  {
    name: 'batched matMul [64,128,64] · [64,64,128]',
    setup() {
      const a = tf.randomNormal([64, 128, 64], 0, 1, 'float32', 3);
      const b = tf.randomNormal([64, 64, 128], 0, 1, 'float32', 4);
      return {
        step: () => tf.tidy(() => syncAll(tf.matMul(a, b))),
        dispose: () => tf.dispose([a, b]),
      };
    },
  },
  mlpStep('MLP step 128x512→2048→512 (tf.matMul grads)', (a, b) => tf.matMul(a, b)),
  // Not part of the single-vs-multi question, but what decides whether threads matter at all:
  {
    name: '  same batched matMul as 64 × 2-D matMul',
    setup() {
      const a = tf.randomNormal([64, 128, 64], 0, 1, 'float32', 3);
      const b = tf.randomNormal([64, 64, 128], 0, 1, 'float32', 4);
      return {
        step: () =>
          tf.tidy(() => {
            const as = tf.unstack(a) as tf.Tensor2D[];
            const bs = tf.unstack(b) as tf.Tensor2D[];
            syncAll(tf.stack(as.map((ai, i) => tf.matMul(ai, bs[i]))));
          }),
        dispose: () => tf.dispose([a, b]),
      };
    },
  },
  mlpStep('  same MLP step, grads as transpose + 2-D', matMulXnn),
];

const BUDGET_MS = 2000;

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  return parseWholeNumber(v, name);
}

interface Cell {
  ms: number[];
  cpuOverWall: number[];
}

async function main(): Promise<void> {
  const multi = envInt('PLD_BENCH_THREADS', os.availableParallelism());
  const rounds = envInt('PLD_BENCH_ROUNDS', 3);
  const iters = envInt('PLD_BENCH_ITERS', 20);
  const configs = multi > 1 ? [1, multi] : [1];
  const cells = new Map<string, Cell>();
  const info = new Map<number, WasmInitResult>();
  const initMs = new Map<number, number[]>();
  const load0 = os.loadavg()[0];

  for (let r = 0; r < rounds; r++) {
    for (const threads of configs) {
      const t0 = performance.now();
      const res = await initWasm({ threads });
      (initMs.get(threads) ?? initMs.set(threads, []).get(threads)!).push(performance.now() - t0);
      info.set(threads, res);
      for (const w of WORKLOADS) {
        const { step, dispose } = w.setup();
        step();
        step(); // warm-up: XNNPACK operator creation, weight packing, memory growth
        const key = `${w.name}|${threads}`;
        const cell = cells.get(key) ?? cells.set(key, { ms: [], cpuOverWall: [] }).get(key)!;
        const probe = performance.now();
        step();
        const once = performance.now() - probe;
        // Slow workloads get fewer iterations: about BUDGET_MS per workload and round, at least 3.
        const n = Math.max(3, Math.min(iters, Math.ceil(BUDGET_MS / Math.max(once, 1e-3))));
        for (let i = 0; i < n; i++) {
          const c0 = process.cpuUsage();
          const s = performance.now();
          step();
          const wall = performance.now() - s;
          const c = process.cpuUsage(c0);
          cell.ms.push(wall);
          cell.cpuOverWall.push((c.user + c.system) / 1000 / wall);
        }
        dispose();
      }
      console.error(`round ${r + 1}/${rounds}: ${threads} thread(s) done (${JSON.stringify(res)})`);
    }
  }

  const col = (s: string, n: number): string => s.padEnd(n);
  const W = 46;
  const head = ['workload'.padEnd(W)];
  for (const t of configs) head.push(col(`${t} thr median`, 13), col('min', 8), col('cpu/wall', 8));
  if (configs.length > 1) head.push(col('speedup median', 14), 'min');
  console.log(
    `tfjs ${tf.version.tfjs} wasm, Node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), ` +
      `load avg ${load0.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}, ${rounds} rounds × ≤${iters} iters, ms`,
  );
  for (const t of configs) {
    const r = info.get(t)!;
    console.log(
      `  threads=${t}: backend reports ${r.threads} thread(s), simd=${r.simd}, threaded=${r.threaded}` +
        `${r.fallback ? `, fallback: ${r.fallback}` : ''}; init median ${median(initMs.get(t)!).toFixed(0)} ms`,
    );
  }
  console.log(head.join(' | '));
  console.log(head.map((h) => '-'.repeat(h.length)).join('-|-'));
  for (const w of WORKLOADS) {
    const row = [w.name.padEnd(W)];
    const meds: number[] = [];
    const mins: number[] = [];
    for (const t of configs) {
      const c = cells.get(`${w.name}|${t}`)!;
      meds.push(median(c.ms));
      mins.push(Math.min(...c.ms));
      row.push(
        col(meds[meds.length - 1].toFixed(2), 13),
        col(mins[mins.length - 1].toFixed(2), 8),
        col(median(c.cpuOverWall).toFixed(2), 8),
      );
    }
    if (meds.length > 1) row.push(col(`${(meds[0] / meds[1]).toFixed(2)}×`, 14), `${(mins[0] / mins[1]).toFixed(2)}×`);
    console.log(row.join(' | '));
  }
}

main().catch((e: unknown) => {
  console.error(`wasm-threads bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exit(1);
});
