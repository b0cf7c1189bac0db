/**
 * The PyTorch twin (python/pld_torch) against the kit: the same random streams, the same logits
 * from the same checkpoints, the same 20 training steps, and a 2-process torchrun run whose
 * checkpoint the kit resumes and fine-tunes. Skipped, with the reason, when no Python has torch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { findTorchPython } from '../src/bench/throughput';
import { createBert, encode, mlmLogits } from '../src/model/bert';
import { AdamW } from '../src/train/optimizer';
import { mlmTrainStep } from '../src/train/mlm';
import { learningRate } from '../src/train/lr';
import { saveCheckpoint, readCheckpointState } from '../src/checkpoint/checkpoint';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { PretrainBatcher, fixedBatches } from '../src/data/masking';
import { WordPieceTokenizer } from '../src/data/tokenizer';
import { Gates, ScheduleConfig, sampleGates } from '../src/schedule';
import { pretrain } from '../src/train/pretrain';
import { readJsonl } from '../src/train/runlog';
import { kitRoot, resolveKitPath } from '../src/util/paths';
import { Rng } from '../src/util/rng';
import { maxRelErr, randomBatch, tinyConfig } from './helpers';

const PY_DIR = path.join(kitRoot(), 'python');
const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');
const py = findTorchPython();
const skip = 'python' in py ? false : py.unavailable;
const python = 'python' in py ? py.python : '';
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pld-twin-'));
const ENV = { ...process.env, PYTHONPATH: PY_DIR, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };

/** One request to python/tests/kit_parity.py. */
function twin<T>(request: object): T {
  const r = spawnSync(python, [path.join(PY_DIR, 'tests', 'kit_parity.py')], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    env: ENV,
    maxBuffer: 1 << 28,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

const tok = (): WordPieceTokenizer => WordPieceTokenizer.fromVocabFile(resolveKitPath('data/vocab.txt'));
const vocabJson = (t: WordPieceTokenizer): object => ({
  size: t.vocabSize,
  clsId: t.clsId,
  sepId: t.sepId,
  padId: t.padId,
  maskId: t.maskId,
  specialIds: [...t.specialIds],
});

/** Random packed sequences with a few special tokens mixed in (never masked, never drawn). */
function packedSeqs(rng: Rng, t: WordPieceTokenizer, n: number, maxLen: number): Int32Array[] {
  return Array.from({ length: n }, () =>
    Int32Array.from({ length: 1 + rng.int(maxLen) }, () =>
      rng.next() < 0.05 ? t.unkId : 5 + rng.int(t.vocabSize - 5),
    ),
  );
}

const arrays = (b: {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  maskedPositions: Int32Array;
  maskedLabels: Int32Array;
}): object => ({
  inputIds: [...b.inputIds],
  attentionMask: [...b.attentionMask],
  maskedPositions: [...b.maskedPositions],
  maskedLabels: [...b.maskedLabels],
});

test("the twin's unit tests pass (python -m unittest in python/)", { skip }, () => {
  const r = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], {
    cwd: PY_DIR,
    encoding: 'utf8',
    env: ENV,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^OK$/m);
});

test("the twin draws the kit's random numbers, gates, batches and masks exactly", { skip }, () => {
  const seeds = [1, 0, -1, 2 ** 32 + 7, 3_000_000_000, -123456789, 1.5e12, 0x5bd1e995 ^ 77];
  const n = 300;
  const t = tok();
  const seqs = packedSeqs(new Rng(99), t, 37, 14);
  const schedules: ScheduleConfig[] = [
    { thetaBar: 0.5, gamma: 0.1, depth: 'paper', rescale: true, constantTheta: false },
    { thetaBar: 0.6, gamma: 0.05, depth: 'deepspeed', rescale: true, constantTheta: false },
    { thetaBar: 0.7, gamma: 0, depth: 'uniform', rescale: false, constantTheta: true },
  ];
  const got = twin<{
    uint32: number[][];
    normal: number[][];
    shuffle: number[][];
    fork: number[][];
    gates: boolean[][][];
    batches: object[];
    batcherState: object;
    fixed: object[];
  }>({
    cmd: 'draws',
    seeds,
    n,
    shuffleN: 50,
    gates: schedules.map((schedule, i) => ({ schedule, L: 6, steps: 40, seed: 7 + i })),
    batcher: {
      seqs: seqs.map((s) => [...s]),
      vocab: vocabJson(t),
      batchSize: 4,
      seqLen: 16,
      seed: 3_000_000_001,
      count: 25,
    },
  });
  seeds.forEach((seed, i) => {
    const r = new Rng(seed);
    assert.deepEqual(
      got.uint32[i],
      Array.from({ length: n }, () => r.nextUint32()),
      `uint32 stream of seed ${seed}`,
    );
    const normals = Array.from({ length: n }, () => r.normal());
    // Box–Muller goes through libm's log/cos in Python and V8's in JS: equal to a few ulps.
    assert.ok(maxRelErr(got.normal[i], normals) < 1e-14, `normals of seed ${seed}`);
    assert.deepEqual(got.shuffle[i], r.shuffle([...Array(50).keys()]));
    assert.deepEqual(
      got.fork[i],
      [...r.fork().state].map((v) => v >>> 0),
    );
  });
  schedules.forEach((s, i) => {
    const r = new Rng(7 + i);
    assert.deepEqual(
      got.gates[i],
      Array.from({ length: 40 }, (_, step) => sampleGates(s, 6, step, r).keep),
      `gates of ${s.depth}`,
    );
  });
  const batcher = new PretrainBatcher(seqs, t, 4, 16, 3_000_000_001);
  assert.deepEqual(
    got.batches,
    Array.from({ length: 25 }, () => arrays(batcher.next())),
  );
  const st = batcher.getState();
  assert.deepEqual(got.batcherState, { epoch: st.epoch, index: st.index, rng: st.rng.map((v) => v >>> 0) });
  assert.deepEqual(got.fixed, fixedBatches(seqs, t, 4, 16, 2).map(arrays));
});

test('logits of PostLN, PreLN and PLD checkpoints: kit and twin agree (relative error < 1e-4)', { skip }, async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
  for (const kind of ['postln', 'preln', 'pld'] as const) {
    const cfg = tinyConfig({
      norm: kind === 'postln' ? 'post' : 'pre',
      layers: 4,
      hidden: 32,
      heads: 4,
      intermediate: 64,
      vocabSize: 60,
    });
    const rng = new Rng(kind.length);
    const model = createBert(cfg, rng.fork());
    const opt = new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 }, model.decay);
    if (kind === 'pld') {
      // A PLD checkpoint: blocks trained for different numbers of steps.
      const sched: ScheduleConfig = { thetaBar: 0.5, gamma: 0, depth: 'paper', rescale: true, constantTheta: true };
      for (let step = 0; step < 6; step++)
        await mlmTrainStep(model, opt, randomBatch(rng, cfg, 4, 12), {
          gates: sampleGates(sched, 4, step, rng),
          rng,
          lr: 5e-3,
          clipNorm: 1,
          step,
        });
    }
    const batch = randomBatch(rng, cfg, 3, 12, 3);
    const types = Int32Array.from(batch.attentionMask, (m, i) => (m && i % 12 >= 6 ? 1 : 0));
    const gates: Gates = { theta: 0.6, keep: [true, false, true, true], scale: [0.9, 0.8, 0.7, 0.6] };
    const logits = (g?: Gates): Float32Array =>
      tf.tidy(() => {
        const shape: [number, number] = [3, 12];
        const input = {
          inputIds: tf.tensor2d(batch.inputIds, shape, 'int32'),
          attentionMask: tf.tensor2d(batch.attentionMask, shape, 'int32'),
          tokenTypeIds: tf.tensor2d(types, shape, 'int32'),
        };
        return mlmLogits(
          model,
          encode(model, input, { training: g !== undefined, gates: g }),
          tf.tensor1d(batch.maskedPositions, 'int32'),
        ).dataSync() as Float32Array;
      });
    const full = logits();
    const gated = logits(gates);
    const dir = path.join(tmp(), 'checkpoint');
    await saveCheckpoint(dir, model, opt, {
      step: 6,
      config: { model: cfg },
      rng: rng.state,
      data: {},
      trainSeconds: 0,
    });
    const got = twin<{ full: number[]; gated: number[] }>({
      cmd: 'logits',
      checkpoint: dir,
      batchSize: 3,
      seqLen: 12,
      ...arrays(batch),
      tokenTypeIds: [...types],
      gates,
    });
    assert.equal(got.full.length, full.length);
    assert.ok(maxRelErr(got.full, full) < 1e-4, `${kind} full depth: ${maxRelErr(got.full, full)}`);
    assert.ok(maxRelErr(got.gated, gated) < 1e-4, `${kind} gated: ${maxRelErr(got.gated, gated)}`);
    assert.ok(maxRelErr(gated, full) > 1e-2, 'the gates must change the logits');
  }
});

test(
  "a fresh twin run starts from the kit's initial weights (same draws, same order, same layout)",
  { skip },
  async () => {
    await initBackend({ backend: 'wasm', threads: 1 });
    const cfg = tinyConfig({
      norm: 'pre',
      layers: 2,
      hidden: 16,
      heads: 2,
      intermediate: 32,
      vocabSize: 70,
      initStd: 0.02,
    });
    const out = path.join(tmp(), 'init');
    twin({ cmd: 'init', model: cfg, seed: 5, out, optim: { beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 } });
    const model = createBert(cfg, new Rng(5).fork());
    const kitDir = path.join(tmp(), 'kit');
    await saveCheckpoint(
      kitDir,
      model,
      new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 }, model.decay),
      { step: 0, config: { model: cfg }, rng: [0, 0, 0, 1], data: {}, trainSeconds: 0 },
    );
    const mine = readSafetensors(path.join(out, 'weights.safetensors')).tensors;
    const kit = readSafetensors(path.join(kitDir, 'weights.safetensors')).tensors;
    assert.deepEqual([...mine.keys()], [...kit.keys()]);
    let differ = 0;
    for (const [name, w] of kit) {
      const v = mine.get(name)!;
      assert.deepEqual(v.shape, w.shape, name);
      // libm's log/cos against V8's: at most an ulp of a double, which float32 rounding almost always hides.
      assert.ok(maxRelErr(v.data, w.data) < 1e-6, name);
      for (let i = 0; i < w.data.length; i++) if (v.data[i] !== w.data[i]) differ++;
    }
    assert.ok(differ <= 2, `${differ} values differ`);
  },
);

test(
  "training parity: 20 AdamW steps with PLD gates (dropout 0) give the kit's losses and weights to 1e-4",
  { skip },
  async () => {
    // The cpu backend: the kit's numeric reference (the wasm kernels are checked against it elsewhere).
    await initBackend({ backend: 'cpu' });
    const t = tok();
    const cfg = tinyConfig({
      norm: 'pre',
      layers: 4,
      hidden: 32,
      heads: 2,
      intermediate: 64,
      vocabSize: t.vocabSize,
      initStd: 0.02,
    });
    const optim = { beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 };
    const schedule: ScheduleConfig = {
      thetaBar: 0.5,
      gamma: 0.15,
      depth: 'paper',
      rescale: true,
      constantTheta: false,
    };
    const seqs = packedSeqs(new Rng(5), t, 60, 14);
    const model = createBert(cfg, new Rng(11));
    const opt = new AdamW(optim, model.decay);
    const root = tmp();
    await saveCheckpoint(path.join(root, 'init'), model, opt, {
      step: 0,
      config: { model: cfg },
      rng: [0, 0, 0, 1],
      data: {},
      trainSeconds: 0,
    });
    const batcher = new PretrainBatcher(seqs, t, 8, 16, 4242);
    const stepRng = new Rng(77);
    const steps = 20;
    const sched = { peak: 2e-3, warmupSteps: 3, totalSteps: steps };
    const losses: number[] = [];
    const blocks: number[] = [];
    for (let step = 0; step < steps; step++) {
      const batch = batcher.next();
      const gates = sampleGates(schedule, 4, step, stepRng);
      losses.push(
        (
          await mlmTrainStep(model, opt, batch, {
            gates,
            rng: stepRng,
            lr: learningRate(sched, step),
            clipNorm: 1,
            step,
          })
        ).loss,
      );
      blocks.push(gates.keep.filter(Boolean).length);
    }
    await saveCheckpoint(path.join(root, 'kit'), model, opt, {
      step: steps,
      config: { model: cfg },
      rng: stepRng.state,
      data: { data: batcher.getState() },
      trainSeconds: 0,
    });
    const got = twin<{ losses: number[]; blocks: number[] }>({
      cmd: 'train',
      checkpoint: path.join(root, 'init'),
      out: path.join(root, 'twin'),
      optim,
      schedule,
      steps,
      lr: 2e-3,
      warmup: 3,
      clip: 1,
      stepSeed: 77,
      batcher: { seqs: seqs.map((s) => [...s]), vocab: vocabJson(t), batchSize: 8, seqLen: 16, seed: 4242 },
    });
    assert.deepEqual(got.blocks, blocks);
    assert.ok(
      blocks.some((b) => b < 4),
      'some steps must drop blocks',
    );
    assert.ok(maxRelErr(got.losses, losses) < 1e-4, `losses ${got.losses} vs ${losses}`);
    assert.ok(losses[steps - 1] < losses[0] - 0.05, 'the run must learn something');
    const a = readSafetensors(path.join(root, 'kit', 'weights.safetensors')).tensors;
    const b = readSafetensors(path.join(root, 'twin', 'weights.safetensors')).tensors;
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [name, w] of a) {
      // The key bias has a zero gradient in exact arithmetic (softmax ignores a shift shared by all
      // keys of a query), so AdamW turns each side's rounding noise into lr-sized steps: not comparable.
      if (name.endsWith('attention.self.key.bias')) continue;
      const v = b.get(name)!;
      assert.deepEqual(v.shape, w.shape, name);
      assert.ok(maxRelErr(v.data, w.data) < 1e-4, `${name}: ${maxRelErr(v.data, w.data)}`);
    }
    const ka = readCheckpointState<unknown, unknown>(path.join(root, 'kit'));
    const kb = readCheckpointState<unknown, unknown>(path.join(root, 'twin'));
    assert.deepEqual(kb.optimizerSteps, ka.optimizerSteps);
    assert.deepEqual(
      kb.rng,
      ka.rng.map((v) => v >>> 0),
    );
    const mo = readSafetensors(path.join(root, 'twin', 'optimizer.safetensors')).tensors;
    for (const [name, m] of readSafetensors(path.join(root, 'kit', 'optimizer.safetensors')).tensors) {
      if (name.endsWith('attention.self.key.bias')) continue;
      assert.ok(maxRelErr(mo.get(name)!.data, m.data) < 1e-3, `${name}: ${maxRelErr(mo.get(name)!.data, m.data)}`);
    }
  },
);

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: 'wasm', PLD_THREADS: '1' },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** torchrun as `python -m torch.distributed.run`; `--redirects 2 --tee 2`: see docs/scale-out.md (torch 1.13 on Python 3.11). */
function torchrun(data: string, out: string, sync: string, steps: number): void {
  const r = spawnSync(
    python,
    [
      '-m',
      'torch.distributed.run',
      '--nproc_per_node=2',
      '--redirects',
      '2',
      '--tee',
      '2',
      '-m',
      'pld_torch.train',
      '--data',
      data,
      '--out',
      out,
      '--steps',
      String(steps),
      '--sync',
      sync,
      '--threads',
      '1',
      '--device',
      'cpu',
    ],
    { encoding: 'utf8', env: ENV, cwd: PY_DIR },
  );
  assert.equal(r.status, 0, r.stderr.slice(-3000));
}

test(
  'torchrun --nproc_per_node=2 (gloo): 30 PLD steps from a kit checkpoint, then the kit resumes and fine-tunes',
  { skip },
  async (t) => {
    const root = tmp();
    t.after(() => fs.rmSync(root, { recursive: true, force: true }));
    const run = path.join(root, 'run');
    const common = {
      variant: 'preln-pld',
      preset: 'quick',
      quiet: true,
      backend: 'wasm' as const,
      threads: 1,
      overrides: [{ train: { steps: 50 } }],
    };
    // The kit: 10 steps, then the same run uninterrupted as the reference for the gates.
    await pretrain({ ...common, out: run, maxStepsThisCall: 10 });
    const ref = await pretrain({ ...common, out: path.join(root, 'ref') });
    const data = path.join(root, 'data');
    const exp = cli(['export-data', '--run', run, '--out', data]);
    assert.equal(exp.status, 0, exp.stderr);
    fs.cpSync(run, path.join(root, 'ddp'), { recursive: true });
    torchrun(data, run, 'allreduce', 30);
    torchrun(data, path.join(root, 'ddp'), 'ddp', 30);
    const st = readCheckpointState<{ train: { steps: number } }, { data: { epoch: number; index: number } }>(
      path.join(run, 'checkpoint'),
    );
    assert.equal(st.step, 40);
    // A dropped block gets no update, on every rank alike.
    assert.ok(
      st.optimizerSteps['bert.encoder.layer.3.output.dense.weight'] <
        st.optimizerSteps['bert.embeddings.word_embeddings.weight'],
    );
    assert.equal(st.optimizerSteps['bert.embeddings.word_embeddings.weight'], 40);
    const twinLog = readJsonl<{ step: number; loss: number; blocksRun: number }>(path.join(run, 'log.jsonl'));
    const ddpLog = readJsonl<{ step: number; loss: number; blocksRun: number }>(path.join(root, 'ddp', 'log.jsonl'));
    assert.deepEqual(
      twinLog.map((r) => r.step),
      [...Array(40).keys()],
    );
    // Both ways of syncing gradients compute the same steps.
    assert.ok(
      maxRelErr(
        ddpLog.map((r) => r.loss),
        twinLog.map((r) => r.loss),
      ) < 1e-5,
    );

    const resumed = cli([
      'pretrain',
      '--variant',
      'preln-pld',
      '--preset',
      'quick',
      '--steps',
      '50',
      '--out',
      run,
      '--resume',
      '--quiet',
    ]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /^preln-pld: finished/);
    const log = readJsonl<{ step: number; loss: number; blocksRun: number }>(path.join(run, 'log.jsonl'));
    assert.deepEqual(
      log.map((r) => r.step),
      [...Array(50).keys()],
    );
    // The same gates as the uninterrupted kit run at every step: kit → twin on 2 ranks → kit.
    assert.deepEqual(
      log.map((r) => r.blocksRun),
      ref.steps.map((s) => s.blocksRun),
    );
    // Dropout masks differ between the kit and the twin, so the losses agree only roughly.
    assert.ok(Math.abs(log[49].loss - ref.steps[49].loss) < 0.3, `${log[49].loss} vs ${ref.steps[49].loss}`);

    const ft = cli([
      'finetune',
      '--checkpoint',
      run,
      '--tasks',
      'genre',
      '--epochs',
      '1',
      '--max-train',
      '32',
      '--max-dev',
      '16',
      '--seeds',
      '1',
      '--lrs',
      '0.001',
      '--quiet',
      '--out',
      path.join(root, 'ft'),
    ]);
    assert.equal(ft.status, 0, ft.stderr);
  },
);

test("the twin's trainer refuses shards made for another config, in one line", { skip }, (t) => {
  const root = tmp();
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const a = cli(['export-data', '--variant', 'preln', '--preset', 'quick', '--out', path.join(root, 'data')]);
  assert.equal(a.status, 0, a.stderr);
  const meta = JSON.parse(fs.readFileSync(path.join(root, 'data', 'data.json'), 'utf8'));
  meta.config.train.seqLen = 16;
  const ck = path.join(root, 'run', 'checkpoint');
  fs.mkdirSync(ck, { recursive: true });
  fs.writeFileSync(
    path.join(ck, 'state.json'),
    JSON.stringify({
      format: 1,
      step: 0,
      config: meta.config,
      optimizerSteps: {},
      rng: [1, 2, 3, 4],
      data: {},
      trainSeconds: 0,
    }),
  );
  const r = spawnSync(
    python,
    ['-m', 'pld_torch.train', '--data', path.join(root, 'data'), '--out', path.join(root, 'run'), '--quiet'],
    { encoding: 'utf8', env: ENV },
  );
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr.trim(),
    `pld_torch.train: ${ck} uses train.seqLen 16 but the shards were packed for 32; re-run pld export-data with the run's config`,
  );
});
