import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pretrain } from '../src/train/pretrain';
import { readJsonl } from '../src/train/runlog';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { resolveConfig, readConfigFile } from '../src/train/config';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pld-pretrain-'));

function cli(args: string[]): { code: number; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: 'wasm', PLD_THREADS: '1' },
  });
  return { code: r.status ?? -1, stderr: r.stderr.trim(), stdout: r.stdout.trim() };
}

test('quick pretraining of all three variants: logs, evaluation, manifest, checkpoint', async () => {
  for (const variant of ['postln', 'preln', 'preln-pld']) {
    const out = path.join(tmp(), variant);
    const r = await pretrain({ variant, preset: 'quick', out, quiet: true, backend: 'wasm', threads: 1 });
    assert.equal(r.finished, true);
    assert.equal(r.steps.length, 30);
    assert.deepEqual(
      r.evals.map((e) => e.step),
      [10, 20, 30],
    );
    // Every evaluation carries masked accuracy and the unigram line of the shipped corpus (6.78 nats, 6.1 %).
    for (const e of r.evals) {
      assert.ok(e.valAccuracy >= 0 && e.valAccuracy <= 1);
      assert.ok(
        Math.abs(e.unigramLoss - 6.7802) < 1e-3 && Math.abs(e.unigramAccuracy - 0.0607) < 1e-3,
        `${e.unigramLoss} ${e.unigramAccuracy}`,
      );
    }
    // The first steps of the process are untimed: their time counts for no variant.
    assert.deepEqual(
      r.steps.slice(0, 4).map((s) => s.timed),
      [false, false, false, true],
    );
    assert.equal(r.steps[2].trainSeconds, 0);
    for (const s of r.steps) assert.ok(Number.isFinite(s.loss) && s.loss > 0);
    // BERT's initial MLM loss is ≈ ln(vocab) = ln 8192 ≈ 9.01
    assert.ok(Math.abs(r.steps[0].loss - Math.log(8192)) < 0.5, `first loss ${r.steps[0].loss}`);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    assert.equal(m.status, 'finished');
    assert.equal(m.reference.unigramLoss, r.evals[0].unigramLoss);
    assert.equal(m.finalValAccuracy, r.evals[2].valAccuracy);
    assert.equal(m.config.variant, variant);
    assert.equal(m.environment.backend.backend, 'wasm');
    assert.match(m.corpus.hash, /^[0-9a-f]{64}$/);
    assert.ok(m.corpus.words > 2_500_000 && m.corpus.tokens > 2_500_000);
    const st = readSafetensors(path.join(out, 'checkpoint', 'weights.safetensors'));
    // PyTorch [out, in] layout for dense weights: intermediate.dense is [FFN, H] = [64, 32]
    assert.deepEqual(st.tensors.get('bert.encoder.layer.0.intermediate.dense.weight')?.shape, [64, 32]);
    assert.equal(st.tensors.has('bert.encoder.FinalLayerNorm.weight'), variant !== 'postln');
    if (variant === 'preln-pld') {
      assert.ok(
        r.steps.some((s) => s.blocksRun < 4),
        'PLD must drop some blocks',
      );
      assert.ok(r.steps[29].theta < 0.51 && r.steps[0].theta === 1);
    } else assert.ok(r.steps.every((s) => s.blocksRun === 4));
    const grads = r.steps.filter((s) => s.blockGradNorms !== null);
    assert.deepEqual(
      grads.map((s) => s.step),
      [0, 10, 20],
    );
  }
});

test('logs read back as a danfojs DataFrame', async () => {
  const out = path.join(tmp(), 'r');
  await pretrain({
    variant: 'preln',
    preset: 'quick',
    out,
    quiet: true,
    backend: 'wasm',
    threads: 1,
    overrides: [{ train: { steps: 12 } }],
  });
  const dfd = require('danfojs-node') as {
    DataFrame: new (x: object[]) => { shape: number[]; columns: string[] };
    readCSV: (p: string) => Promise<{ shape: number[]; columns: string[] }>;
  };
  const df = new dfd.DataFrame(readJsonl(path.join(out, 'log.jsonl')));
  assert.equal(df.shape[0], 12);
  assert.ok(df.columns.includes('loss') && df.columns.includes('theta'));
  const csv = await dfd.readCSV(path.join(out, 'log.csv'));
  assert.equal(csv.shape[0], 12);
  assert.ok(csv.columns.includes('blockGradNorms_3'));
});

test('a run killed with SIGKILL after a checkpoint resumes to exactly the uninterrupted losses', async () => {
  const dir = tmp();
  const env = { ...process.env, PLD_BACKEND: 'wasm', PLD_THREADS: '1' };
  const args = (out: string, extra: string[] = []): string[] => [
    CLI,
    'pretrain',
    '--variant',
    'preln-pld',
    '--preset',
    'quick',
    '--steps',
    '40',
    '--out',
    out,
    '--quiet',
    ...extra,
  ];
  const full = path.join(dir, 'full');
  assert.equal(spawnSync(process.execPath, args(full), { env }).status, 0);
  const cut = path.join(dir, 'cut');
  const child = spawn(process.execPath, args(cut), { env, stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  // Kill once the step-10 checkpoint exists and a few steps beyond it have been logged.
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    const log = path.join(cut, 'log.jsonl');
    if (
      fs.existsSync(path.join(cut, 'checkpoint', 'state.json')) &&
      fs.existsSync(log) &&
      fs.readFileSync(log, 'utf8').split('\n').length > 14
    )
      break;
  }
  child.kill('SIGKILL');
  await exited;
  const killedAt = readJsonl(path.join(cut, 'log.jsonl')).length;
  assert.ok(killedAt < 40, `the run finished before it was killed (${killedAt} steps)`);
  const state = JSON.parse(fs.readFileSync(path.join(cut, 'checkpoint', 'state.json'), 'utf8'));
  assert.ok(state.step >= 10 && state.step % 10 === 0);
  assert.equal(spawnSync(process.execPath, args(cut, ['--resume']), { env }).status, 0);
  const a = readJsonl<{ step: number; loss: number }>(path.join(full, 'log.jsonl'));
  const b = readJsonl<{ step: number; loss: number }>(path.join(cut, 'log.jsonl'));
  assert.deepEqual(
    b.map((x) => x.step),
    a.map((x) => x.step),
  );
  assert.deepEqual(
    b.map((x) => x.loss),
    a.map((x) => x.loss),
  );
  const ea = readJsonl<{ valLoss: number }>(path.join(full, 'eval.jsonl'));
  const eb = readJsonl<{ valLoss: number }>(path.join(cut, 'eval.jsonl'));
  assert.deepEqual(
    eb.map((x) => x.valLoss),
    ea.map((x) => x.valLoss),
  );
});

test('bad input: one-line errors, non-zero exit, nothing overwritten', () => {
  const dir = tmp();
  const expect = (args: string[], message: string): void => {
    const r = cli(args);
    assert.notEqual(r.code, 0, `exit code for ${args.join(' ')}`);
    assert.equal(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
    assert.equal(r.stderr, message);
  };
  expect(
    ['pretrain', '--variant', 'preln', '--preset', 'huge'],
    "pld pretrain: unknown preset 'huge'; use one of quick, small, base",
  );
  expect(
    ['pretrain', '--variant', 'bert'],
    "pld pretrain: unknown variant 'bert'; use one of postln, preln, preln-pld",
  );
  const badJson = path.join(dir, 'bad.json');
  fs.writeFileSync(badJson, '{"optim": {"lr": 0.001,}}');
  const r = cli(['pretrain', '--variant', 'preln', '--config', badJson]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`^pld pretrain: config file ${badJson} is not valid JSON \\(.*\\); fix the syntax$`),
  );
  const typo = path.join(dir, 'typo.json');
  fs.writeFileSync(typo, '{"optim": {"lr": "0.001"}}');
  expect(
    ['pretrain', '--variant', 'preln', '--config', typo],
    `pld pretrain: config file ${typo}: field 'optim.lr' must be a number, got string`,
  );
  fs.writeFileSync(typo, '{"train": {"stepz": 5}}');
  assert.match(
    cli(['pretrain', '--variant', 'preln', '--config', typo]).stderr,
    /unknown field 'train.stepz'; known fields: steps, batchSize/,
  );
  expect(
    [
      'pretrain',
      '--variant',
      'preln',
      '--preset',
      'quick',
      '--corpus',
      path.join(dir, 'nope'),
      '--out',
      path.join(dir, 'o1'),
    ],
    `pld pretrain: corpus folder ${path.join(dir, 'nope')} does not exist; pass a folder of .txt files (one document per file)`,
  );
  fs.mkdirSync(path.join(dir, 'empty'));
  expect(
    [
      'pretrain',
      '--variant',
      'preln',
      '--preset',
      'quick',
      '--corpus',
      path.join(dir, 'empty'),
      '--out',
      path.join(dir, 'o2'),
    ],
    `pld pretrain: corpus folder ${path.join(dir, 'empty')} has no .txt files; put one document per .txt file there`,
  );
  const vocab = path.join(dir, 'vocab.json');
  fs.writeFileSync(vocab, '{"[PAD]": 0}');
  expect(
    ['pretrain', '--variant', 'preln', '--preset', 'quick', '--vocab', vocab, '--out', path.join(dir, 'o3')],
    `pld pretrain: vocab ${vocab} looks like JSON; a BERT vocab.txt has one token per line (convert a tokenizer.json's vocab to that format)`,
  );
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  expect(
    ['pretrain', '--variant', 'preln', '--preset', 'quick', '--out', path.join(file, 'run')],
    `pld pretrain: output directory ${path.join(file, 'run')} is not writable: a parent is not a directory (ENOTDIR); choose another --out`,
  );
  expect(['pretrain', '--variant', 'preln', '--steps', 'ten'], "pld pretrain: --steps must be a number, got 'ten'");
  expect(
    ['pretrain', '--variant', 'preln', '--bogus'],
    'pld pretrain: unknown option --bogus; known: --variant --preset --config --out --resume --seed --lr --steps --theta --gamma --corpus --vocab --backend --threads --quiet --help',
  );
  expect(
    ['pretrain', '--variant', 'preln-pld', '--theta', '1.5'],
    'pld pretrain: schedule thetaBar must be in (0, 1], got 1.5; the paper uses 0.5 to 0.9 and 1 disables dropping',
  );
});

test('an existing run is never overwritten; --resume with another config is refused', () => {
  const out = path.join(tmp(), 'run');
  assert.equal(
    cli(['pretrain', '--variant', 'preln', '--preset', 'quick', '--steps', '10', '--out', out, '--quiet']).code,
    0,
  );
  const before = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8');
  const again = cli(['pretrain', '--variant', 'preln', '--preset', 'quick', '--steps', '10', '--out', out]);
  assert.equal(again.code, 1);
  assert.equal(
    again.stderr,
    `pld pretrain: output directory ${out} already holds a run; pass --resume to continue it or choose another --out`,
  );
  const other = cli([
    'pretrain',
    '--variant',
    'preln',
    '--preset',
    'quick',
    '--steps',
    '10',
    '--lr',
    '0.002',
    '--out',
    out,
    '--resume',
  ]);
  assert.equal(other.code, 1);
  assert.equal(
    other.stderr,
    `pld pretrain: checkpoint ${path.join(out, 'checkpoint')} was made with a different config (field 'optim.lr' differs); resume with the same variant, preset and overrides, or choose another --out`,
  );
  assert.equal(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8'), before);
});

test('--resume on a directory without a checkpoint fails in one line and writes nothing', () => {
  const out = path.join(tmp(), 'typo');
  const r = spawnSync(
    process.execPath,
    [CLI, 'pretrain', '--variant', 'preln', '--preset', 'quick', '--out', out, '--resume'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `pld pretrain: nothing to resume in ${out}: it holds no checkpoint (${path.join(out, 'checkpoint', 'state.json')}); check --out, or drop --resume to start a new run\n`,
  );
  assert.equal(fs.existsSync(out), false);
});

test('a non-finite loss stops the run with a clear error and keeps the last good checkpoint', () => {
  const out = path.join(tmp(), 'nan');
  const r = cli(['pretrain', '--variant', 'postln', '--preset', 'quick', '--lr', '1000', '--out', out, '--quiet']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^pld pretrain: non-finite (loss \(NaN\)|gradient norm) at step \d+; training stopped \(lower the learning rate or raise warmup; the last good checkpoint is kept\)$/,
  );
  const failedAt = Number(/at step (\d+)/.exec(r.stderr)?.[1]);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8'));
  assert.ok(state.step <= failedAt && state.step > 0, `checkpoint step ${state.step}, failure at ${failedAt}`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(m.status, 'diverged');
});

test('config merge order: defaults ← preset ← variant ← file ← flags', () => {
  const dir = tmp();
  const f = path.join(dir, 'c.json');
  fs.writeFileSync(f, JSON.stringify({ model: { hidden: 48 }, optim: { lr: 0.005 }, train: { steps: 80 } }));
  const c = resolveConfig('preln-pld', 'quick', readConfigFile(f), { optim: { lr: 0.002 } });
  assert.equal(c.model.hidden, 48);
  assert.equal(c.model.layers, 4); // quick preset
  assert.equal(c.model.norm, 'pre'); // variant
  assert.equal(c.optim.lr, 0.002); // flags win over the file
  assert.equal(c.train.steps, 80);
  assert.equal(c.schedule.gamma, 8 / 80); // γ scaled to the run length
  assert.equal(resolveConfig('postln', 'small').optim.lr, 3e-4);
  assert.equal(resolveConfig('postln', 'small').model.layers, 12);
});

test('running out of wasm memory is one clear error; the manifest says the run failed', () => {
  const dir = tmp();
  const cfg = path.join(dir, 'huge.json');
  // 3000 sequences of 32 tokens through 4 blocks of width 256 with a 1024-wide FFN: the activations
  // kept for the backward pass (several × 96 000 × 1024 floats per block) outgrow the 4 GiB a wasm32
  // heap can hold, one moderate allocation at a time, so the heap is near its limit when one fails.
  fs.writeFileSync(
    cfg,
    JSON.stringify({ model: { hidden: 256, heads: 4, intermediate: 1024 }, train: { batchSize: 3000, steps: 2 } }),
  );
  const out = path.join(dir, 'run');
  const r = cli(['pretrain', '--variant', 'preln', '--preset', 'quick', '--config', cfg, '--out', out, '--quiet']);
  assert.equal(r.code, 1);
  // Emscripten prints its own "Aborted()" line first; the kit's line is the last one.
  const last = r.stderr.split('\n').pop() as string;
  assert.match(
    last,
    /^pld pretrain: the wasm backend ran out of memory \(its heap is at [34]\.\d of at most 4 GiB; .+\); lower the batch size or the sequence length, or train on a GPU with --backend webgpu, which has no 4 GiB limit \(docs\/gpu\.md\)\. Checkpoints already written are intact$/,
  );
  const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  assert.equal(m.status, 'failed');
  assert.match(m.error, /^the wasm backend ran out of memory/);
});
