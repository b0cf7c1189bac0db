/** `pld export --hf` (Hugging Face folder) and `pld export-data` (shards for the PyTorch twin). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { createBert, encode, mlmLogits } from '../src/model/bert';
import { AdamW } from '../src/train/optimizer';
import { saveCheckpoint } from '../src/checkpoint/checkpoint';
import { readSafetensors } from '../src/checkpoint/safetensors';
import { resolveConfig } from '../src/train/config';
import { encodeShards } from '../src/export/data';
import { findTorchPython } from '../src/bench/throughput';
import { kitRoot } from '../src/util/paths';
import { Rng } from '../src/util/rng';
import { maxRelErr, randomBatch } from './helpers';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pld-export-'));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PLD_BACKEND: 'wasm', PLD_THREADS: '1' },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** BertConfig's constructor arguments in transformers (4.x), written out independently of the kit. */
const BERT_CONFIG_FIELDS = new Set([
  'vocab_size',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'intermediate_size',
  'hidden_act',
  'hidden_dropout_prob',
  'attention_probs_dropout_prob',
  'max_position_embeddings',
  'type_vocab_size',
  'initializer_range',
  'layer_norm_eps',
  'pad_token_id',
  'position_embedding_type',
  'use_cache',
  'classifier_dropout',
  // PretrainedConfig's own fields that config.json files carry
  'architectures',
  'model_type',
  'tie_word_embeddings',
]);

/** BertForMaskedLM's state_dict names and shapes (no pooler; the tied decoder left out), V vocab, P positions, H hidden, I FFN. */
function bertForMaskedLmTensors(L: number, V: number, P: number, H: number, I: number): Map<string, number[]> {
  const m = new Map<string, number[]>([
    ['bert.embeddings.word_embeddings.weight', [V, H]],
    ['bert.embeddings.position_embeddings.weight', [P, H]],
    ['bert.embeddings.token_type_embeddings.weight', [2, H]],
    ['bert.embeddings.LayerNorm.weight', [H]],
    ['bert.embeddings.LayerNorm.bias', [H]],
  ]);
  for (let i = 0; i < L; i++) {
    const p = `bert.encoder.layer.${i}.`;
    for (const n of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense'])
      m.set(`${p}${n}.weight`, [H, H]).set(`${p}${n}.bias`, [H]);
    m.set(`${p}intermediate.dense.weight`, [I, H]).set(`${p}intermediate.dense.bias`, [I]);
    m.set(`${p}output.dense.weight`, [H, I]).set(`${p}output.dense.bias`, [H]);
    for (const n of ['attention.output.LayerNorm', 'output.LayerNorm'])
      m.set(`${p}${n}.weight`, [H]).set(`${p}${n}.bias`, [H]);
  }
  m.set('cls.predictions.bias', [V])
    .set('cls.predictions.transform.dense.weight', [H, H])
    .set('cls.predictions.transform.dense.bias', [H]);
  m.set('cls.predictions.transform.LayerNorm.weight', [H]).set('cls.predictions.transform.LayerNorm.bias', [H]);
  return m;
}

async function kitRun(
  variant: 'postln' | 'preln',
): Promise<{ run: string; cfg: ReturnType<typeof resolveConfig>; model: ReturnType<typeof createBert> }> {
  await initBackend({ backend: 'wasm', threads: 1 });
  const cfg = resolveConfig(variant, 'quick');
  const model = createBert(cfg.model, new Rng(3));
  const run = tmp();
  await saveCheckpoint(
    path.join(run, 'checkpoint'),
    model,
    new AdamW({ beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0.01 }, model.decay),
    { step: 0, config: cfg, rng: [1, 2, 3, 4], data: {}, trainSeconds: 0 },
  );
  return { run, cfg, model };
}

test('export --hf of a PostLN checkpoint: BertConfig fields and BertForMaskedLM tensor names, shapes and values', async (t) => {
  const { run, cfg, model } = await kitRun('postln');
  const out = path.join(tmp(), 'hf');
  const r = cli(['export', '--hf', out, '--checkpoint', run]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(fs.readdirSync(out).sort(), [
    'config.json',
    'model.safetensors',
    'special_tokens_map.json',
    'tokenizer_config.json',
    'vocab.txt',
  ]);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(config))
    assert.ok(BERT_CONFIG_FIELDS.has(k), `config.json field ${k} is not a BertConfig field`);
  const m = cfg.model;
  assert.deepEqual(
    [
      config.model_type,
      config.architectures,
      config.vocab_size,
      config.hidden_size,
      config.num_hidden_layers,
      config.num_attention_heads,
      config.intermediate_size,
      config.max_position_embeddings,
      config.hidden_act,
      config.layer_norm_eps,
    ],
    [
      'bert',
      ['BertForMaskedLM'],
      m.vocabSize,
      m.hidden,
      m.layers,
      m.heads,
      m.intermediate,
      m.maxPositions,
      'gelu',
      1e-12,
    ],
  );
  const want = bertForMaskedLmTensors(m.layers, m.vocabSize, m.maxPositions, m.hidden, m.intermediate);
  const got = readSafetensors(path.join(out, 'model.safetensors'));
  assert.equal(got.metadata.format, 'pt');
  assert.deepEqual(new Set(got.tensors.keys()), new Set(want.keys()));
  for (const [name, shape] of want) assert.deepEqual(got.tensors.get(name)?.shape, shape, name);
  // Values: the kit's [in, out] weight, transposed.
  const q = model.params.get('bert.encoder.layer.1.intermediate.dense.weight')!.arraySync() as number[][];
  const file = got.tensors.get('bert.encoder.layer.1.intermediate.dense.weight')!;
  assert.equal(file.data[5 * m.hidden + 7], Math.fround(q[7][5]));
  assert.equal(
    fs.readFileSync(path.join(out, 'vocab.txt'), 'utf8'),
    fs.readFileSync(path.join(kitRoot(), 'data', 'vocab.txt'), 'utf8'),
  );
  const tokCfg = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
  assert.equal(tokCfg.do_lower_case, true);
  assert.equal(tokCfg.mask_token, '[MASK]');

  // With transformers installed: from_pretrained gives the kit's logits.
  const py = findTorchPython();
  const hasTransformers =
    'python' in py && spawnSync(py.python, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;
  if (!hasTransformers)
    return void t.diagnostic(
      'transformers is not installed: from_pretrained not tried (names and shapes checked above)',
    );
  const batch = randomBatch(new Rng(8), m, 2, 12, 3);
  const kit = tf.tidy(() =>
    mlmLogits(
      model,
      encode(
        model,
        {
          inputIds: tf.tensor2d(batch.inputIds, [2, 12], 'int32'),
          attentionMask: tf.tensor2d(batch.attentionMask, [2, 12], 'int32'),
        },
        { training: false },
      ),
      tf.tensor1d(batch.maskedPositions, 'int32'),
    ).dataSync(),
  );
  const script = `import json,sys,torch\nfrom transformers import BertForMaskedLM\nq=json.load(sys.stdin)\nm=BertForMaskedLM.from_pretrained(q['dir']).eval()\nwith torch.no_grad():\n  o=m(input_ids=torch.tensor(q['ids']).view(2,12),attention_mask=torch.tensor(q['mask']).view(2,12)).logits.reshape(-1,m.config.vocab_size)[q['pos']]\nprint(json.dumps(o.flatten().tolist()))`;
  const res = spawnSync((py as { python: string }).python, ['-c', script], {
    input: JSON.stringify({
      dir: out,
      ids: [...batch.inputIds],
      mask: [...batch.attentionMask],
      pos: [...batch.maskedPositions],
    }),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.equal(res.status, 0, res.stderr);
  assert.ok(maxRelErr(JSON.parse(res.stdout) as number[], kit) < 1e-4);
});

test('export --hf of a PreLN checkpoint: DeepSpeed PreLN names, no model_type, a README', async () => {
  const { run, cfg } = await kitRun('preln');
  const out = path.join(tmp(), 'hf');
  const r = cli(['export', '--hf', out, '--checkpoint', path.join(run, 'checkpoint')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /PreLN: DeepSpeed's PreLN names/);
  const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
  assert.equal(config.model_type, undefined);
  assert.deepEqual(config.architectures, ['BertForPreTrainingPreLN']);
  assert.equal(config.pre_layer_norm, true);
  const names = [...readSafetensors(path.join(out, 'model.safetensors')).tensors.keys()];
  assert.ok(names.includes('bert.encoder.layer.0.PreAttentionLayerNorm.weight'));
  assert.ok(names.includes(`bert.encoder.layer.${cfg.model.layers - 1}.PostAttentionLayerNorm.bias`));
  assert.ok(names.includes('bert.encoder.FinalLayerNorm.weight'));
  assert.ok(!names.some((n) => /layer\.\d+\.(attention\.)?output\.LayerNorm/.test(n)));
  assert.match(fs.readFileSync(path.join(out, 'README.md'), 'utf8'), /not transformers'\n?.*BertModel/);
});

test('export refuses a folder holding other files, and bad flags, in one line', async () => {
  const { run } = await kitRun('postln');
  const busy = tmp();
  fs.writeFileSync(path.join(busy, 'notes.txt'), 'mine');
  assert.deepEqual(cli(['export', '--hf', busy, '--checkpoint', run]), {
    status: 1,
    stdout: '',
    stderr: `pld export: ${busy} already holds other files (no config.json); choose an empty or new folder for the Hugging Face export`,
  });
  assert.deepEqual(fs.readdirSync(busy), ['notes.txt']);
  assert.deepEqual(cli(['export', '--hf', path.join(busy, 'x')]), {
    status: 1,
    stdout: '',
    stderr: 'pld export: --checkpoint is required: a pretraining run directory (see pld pretrain --help)',
  });
  const nothing = tmp();
  assert.deepEqual(cli(['export', '--hf', path.join(busy, 'x'), '--checkpoint', nothing]), {
    status: 1,
    stdout: '',
    stderr: `pld export: no checkpoint at ${nothing} (expected state.json there or in ${path.join(nothing, 'checkpoint')}); pass a pretraining run's --out directory`,
  });
  assert.deepEqual(cli(['export-data', '--out', path.join(busy, 'd')]), {
    status: 1,
    stdout: '',
    stderr:
      'pld export-data: give either --run RUN (a pretraining run) or --variant V (and optionally --preset, --config)',
  });
  assert.deepEqual(cli(['export-data', '--variant', 'preln', '--preset', 'quick', '--out', busy]), {
    status: 1,
    stdout: '',
    stderr: `pld export-data: ${busy} already holds other files (no data.json); choose an empty or new folder for the exported data`,
  });
});

test('shards: [n, lengths…, tokens…] in int32, split at the size limit, in order', () => {
  const { files, info } = encodeShards(
    'train',
    [Int32Array.of(7, 8), Int32Array.of(9), Int32Array.of(300, 301, 302)],
    6,
  );
  assert.deepEqual(info, { sequences: 3, tokens: 6, shards: ['train-00000.i32', 'train-00001.i32'] });
  const ints = (b: Uint8Array): number[] => [...new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4)];
  assert.deepEqual(ints(files['train-00000.i32']), [2, 2, 1, 7, 8, 9]);
  assert.deepEqual(ints(files['train-00001.i32']), [1, 3, 300, 301, 302]);
  // A sequence longer than the limit still gets a shard of its own.
  assert.deepEqual(encodeShards('v', [Int32Array.of(1, 2, 3, 4, 5, 6)], 2).info.shards, ['v-00000.i32']);
});
