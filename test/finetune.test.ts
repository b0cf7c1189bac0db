import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pretrain } from '../src/train/pretrain';
import { encodeExample, finetune } from '../src/finetune/finetune';
import { WordPieceTokenizer } from '../src/data/tokenizer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-ft-'));
const run = path.join(dir, 'preln');
const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');
const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures', 'glue');

before(async () => {
  await pretrain({ variant: 'preln', preset: 'quick', out: run, quiet: true, backend: 'wasm', threads: 1 });
});

test('[CLS] a [SEP] b [SEP] encoding with longest-first truncation and segment ids', () => {
  const tok = WordPieceTokenizer.fromTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b', 'c']);
  assert.deepEqual(encodeExample(tok, { textA: 'a b c', label: 0 }, 16), {
    ids: [2, 5, 6, 7, 3],
    types: [0, 0, 0, 0, 0],
  });
  assert.deepEqual(encodeExample(tok, { textA: 'a a a a', textB: 'b', label: 0 }, 7), {
    ids: [2, 5, 5, 5, 3, 6, 3],
    types: [0, 0, 0, 0, 0, 1, 1],
  });
});

test('fine-tuning a quick checkpoint beats the majority baseline on spam', async () => {
  const r = await finetune({
    checkpoint: run,
    tasks: ['spam'],
    config: { maxTrain: 800, maxDev: 200, epochs: 4, seeds: [1], lrs: [3e-3] },
    quiet: true,
    backend: 'wasm',
    threads: 1,
  });
  const s = r.summary[0];
  assert.equal(s.task, 'spam');
  assert.equal(s.baseline, 38); // always "ham": accuracy 76, F1 0
  assert.ok(s.mean > s.baseline + 10, `score ${s.mean} vs baseline ${s.baseline}`);
  assert.equal(r.variant, 'preln');
  const out = path.join(run, 'finetune');
  assert.match(fs.readFileSync(path.join(out, 'results.md'), 'utf8'), /^\| model \| spam \| average \|/);
  assert.match(fs.readFileSync(path.join(out, 'results.csv'), 'utf8'), /^task,devSet,lr,seed,score,f1,accuracy/);
});

test('GLUE uses the same path: pld finetune on the official-format fixtures, MNLI with two dev sets', () => {
  const out = path.join(dir, 'glue-out');
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      'finetune',
      '--checkpoint',
      run,
      '--glue-dir',
      FIXTURES,
      '--tasks',
      'SST-2,MNLI,STS-B',
      '--epochs',
      '1',
      '--seeds',
      '1,2',
      '--out',
      out,
      '--quiet',
    ],
    {
      encoding: 'utf8',
      env: { ...process.env, PLD_BACKEND: 'wasm', PLD_THREADS: '1' },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\| model \| SST-2 \| MNLI \| STS-B \| average \|/);
  const res = JSON.parse(fs.readFileSync(path.join(out, 'preln', 'results.json'), 'utf8'));
  assert.deepEqual(
    [...new Set(res.rows.filter((x: { task: string }) => x.task === 'MNLI').map((x: { devSet: string }) => x.devSet))],
    ['dev_matched', 'dev_mismatched'],
  );
  assert.equal(res.rows.length, 2 * (1 + 2 + 1));
  assert.ok(fs.existsSync(path.join(out, 'comparison.md')));
});

test('clear errors: unknown task, GLUE task without a directory, incompatible vocabulary, missing checkpoint', async () => {
  await assert.rejects(finetune({ checkpoint: run, tasks: ['imdb'], quiet: true }), {
    message:
      "unknown task 'imdb'; offline suite: spam, genre, sotu-year, adjacent, acceptability; GLUE: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI",
  });
  await assert.rejects(finetune({ checkpoint: run, tasks: ['rte'], quiet: true }), {
    message: 'task RTE is a GLUE task: pass --glue-dir pointing at the GLUE data (<dir>/RTE/train.tsv, …)',
  });
  const bad = path.join(dir, 'bad');
  fs.cpSync(run, bad, { recursive: true });
  const vocab = path.join(dir, 'small-vocab.txt');
  fs.writeFileSync(vocab, '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n');
  const st = path.join(bad, 'checkpoint', 'state.json');
  const s = JSON.parse(fs.readFileSync(st, 'utf8'));
  s.config.data.vocab = vocab;
  fs.writeFileSync(st, JSON.stringify(s));
  await assert.rejects(finetune({ checkpoint: bad, tasks: ['spam'], quiet: true }), {
    message: `checkpoint ${path.join(bad, 'checkpoint')} was trained with a 8192-token vocabulary but ${vocab} has 6 tokens; use the vocab.txt the checkpoint was trained with`,
  });
  const r = spawnSync(process.execPath, [CLI, 'finetune', '--checkpoint', path.join(dir, 'nothing')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr.trim(),
    `pld finetune: no checkpoint at ${path.join(dir, 'nothing')} (expected state.json there or in ${path.join(dir, 'nothing', 'checkpoint')}); pass a pretraining run's --out directory`,
  );
});

test('the random-init control reads no checkpoint weights and writes beside the run', async () => {
  const noWeights = path.join(dir, 'no-weights');
  fs.cpSync(run, noWeights, { recursive: true });
  fs.rmSync(path.join(noWeights, 'checkpoint', 'weights.safetensors'));
  const config = { maxTrain: 64, maxDev: 32, epochs: 1, seeds: [1], lrs: [3e-3] };
  const r = await finetune({
    checkpoint: noWeights,
    tasks: ['spam'],
    init: 'random',
    config,
    quiet: true,
    backend: 'wasm',
    threads: 1,
  });
  assert.deepEqual([r.init, r.label, r.summary[0].seeds], ['random', 'random init (control)', 1]);
  assert.ok(fs.existsSync(path.join(noWeights, 'finetune-random', 'results.json')));
  await assert.rejects(
    finetune({ checkpoint: noWeights, tasks: ['spam'], config, quiet: true, backend: 'wasm', threads: 1 }),
    /weights\.safetensors/,
  );
});
