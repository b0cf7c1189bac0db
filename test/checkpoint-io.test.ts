/**
 * Checkpoint file formats without tfjs: safetensors bytes (checked against byte sequences written
 * out by hand, so the format is verified independently of the encoder), validation errors,
 * crash-safe writes (including SIGKILL at random moments), and the BERT parameter naming.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsChunks,
  readSafetensors,
  writeSafetensors,
  NamedTensor,
} from '../src/checkpoint/safetensors';
import {
  backupDirName,
  checkWritableDir,
  recoverDir,
  removeStaleTemps,
  resolveCheckpointDir,
  writeDirAtomic,
  writeFileAtomic,
} from '../src/util/atomic';
import {
  bertParameterShapes,
  deepSpeedPreLnName,
  fromTorchLayout,
  hfBertConfig,
  isLinearWeight,
  isPreLnOnly,
  toTorchLayout,
  transpose2d,
  BertShapeConfig,
} from '../src/checkpoint/hf-names';
import * as checkpointIndex from '../src/checkpoint';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pld-ckpt-'));
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  return b;
};
/** A safetensors file from a header string (padded with spaces to 8) and raw data bytes. */
const file = (header: string, data: Buffer = Buffer.alloc(0), pad = true): Buffer => {
  const h = pad ? header + ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8) : header;
  return Buffer.concat([u64(Buffer.byteLength(h)), Buffer.from(h, 'utf8'), data]);
};
const oneLine =
  (re: RegExp) =>
  (e: unknown): boolean => {
    const m = (e as Error).message;
    assert.ok(!m.includes('\n'), `error spans lines: ${m}`);
    assert.match(m, re);
    return true;
  };

// ---------------------------------------------------------------------------------------------
// safetensors: golden bytes

test("safetensors golden bytes: the reference crate's own test vector (alignment padding)", () => {
  // From huggingface/safetensors test_serialization_forced_alignement: "attn0", F32 [1,1,2,3] = 0..5.
  // 65-byte JSON + 7 spaces = 72 = 0x48; float32 LE: 0 = 00000000, 1 = 0000803f, 2 = 00000040, ...
  const want = Buffer.concat([
    hex('48 00 00 00 00 00 00 00'),
    ascii('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}'),
    ascii('       '),
    hex('00000000 0000803f 00000040 00004040 00008040 0000a040'),
  ]);
  const got = encodeSafetensors([{ name: 'attn0', shape: [1, 1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) }]);
  assert.equal(got.toString('hex'), want.toString('hex'));
  const d = decodeSafetensors(want);
  assert.deepEqual(d.tensors.get('attn0')?.shape, [1, 1, 2, 3]);
  assert.deepEqual(Array.from(d.tensors.get('attn0')?.data ?? []), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(d.metadata, {});
});

test('safetensors golden bytes: metadata only, and an empty file', () => {
  // From the reference test_empty: {} -> 8 spaces-padded bytes; {"framework": "pt"} -> 40 bytes.
  assert.equal(
    encodeSafetensors([]).toString('hex'),
    Buffer.concat([hex('0800000000000000'), ascii('{}      ')]).toString('hex'),
  );
  const want = Buffer.concat([hex('2800000000000000'), ascii('{"__metadata__":{"framework":"pt"}}'), ascii('     ')]);
  assert.equal(encodeSafetensors([], { framework: 'pt' }).toString('hex'), want.toString('hex'));
  assert.deepEqual(decodeSafetensors(want).metadata, { framework: 'pt' });
  assert.equal(decodeSafetensors(want).tensors.size, 0);
});

test('safetensors golden bytes: several tensors in the order given, metadata first, scalar and empty tensors', () => {
  const json =
    '{"__metadata__":{"format":"pt","norm":"post"},' +
    '"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},' +
    '"s":{"dtype":"F32","shape":[],"data_offsets":[24,28]},' +
    '"e":{"dtype":"F32","shape":[0,3],"data_offsets":[28,28]}}';
  assert.equal(json.length % 8, 4); // needs 4 spaces of padding
  const want = Buffer.concat([
    u64(json.length + 4),
    ascii(json + '    '),
    hex('0000c03f 000000c0 00000000 0000807f'), // w = 1.5, -2, 0, +Infinity
    hex('0000803e 000020c1'), // b = 0.25, -10
    hex('db0f4940'), // s = float32(pi)
  ]);
  const tensors: NamedTensor[] = [
    { name: 'w', shape: [2, 2], data: Float32Array.from([1.5, -2, 0, Infinity]) },
    { name: 'b', shape: [2], data: Float32Array.from([0.25, -10]) },
    { name: 's', shape: [], data: Float32Array.from([Math.PI]) },
    { name: 'e', shape: [0, 3], data: new Float32Array(0) },
  ];
  const metadata = { format: 'pt', norm: 'post' };
  assert.equal(encodeSafetensors(tensors, metadata).toString('hex'), want.toString('hex'));
  // The chunked form is the same bytes, and the tensor chunks are views (no copy) on this host.
  const chunks = encodeSafetensorsChunks(tensors, metadata);
  assert.equal(Buffer.concat(chunks).toString('hex'), want.toString('hex'));
  assert.equal(chunks[1].buffer, tensors[0].data.buffer);
  assert.equal((8 + json.length + 4) % 8, 0);

  const d = decodeSafetensors(want);
  assert.deepEqual([...d.tensors.keys()], ['w', 'b', 's', 'e']);
  assert.deepEqual(Array.from(d.tensors.get('w')?.data ?? []), [1.5, -2, 0, Infinity]);
  assert.deepEqual(d.tensors.get('s')?.shape, []);
  assert.equal(d.tensors.get('s')?.data[0], Math.fround(Math.PI));
  assert.equal(d.tensors.get('e')?.data.length, 0);
  assert.deepEqual(d.metadata, metadata);
});

test('safetensors reader: header keys in any order, data order decides; decoded arrays are fresh copies', () => {
  // Header lists b before a, but a's bytes come first (as the reference allows).
  const buf = file(
    '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    hex('0000803f 00000040'),
  );
  const d = decodeSafetensors(buf);
  assert.deepEqual([...d.tensors.keys()], ['a', 'b']);
  assert.equal(d.tensors.get('a')?.data[0], 1);
  assert.equal(d.tensors.get('b')?.data[0], 2);
  buf.fill(0);
  assert.equal(d.tensors.get('b')?.data[0], 2);
});

test('safetensors reader: F16, BF16, F64 and exact integer dtypes into float32', () => {
  const data = Buffer.concat([
    hex('003c 00c0 0000 007c 0100'), // F16: 1, -2, 0, +Inf, smallest subnormal 2^-24
    hex('803f 40c0'), // BF16: 1, -3
    hex('000000000000f83f'), // F64: 1.5
    hex('0500000000000000 fdffffffffffffff'), // I64: 5, -3
    hex('00000001'), // I32: 2^24
    hex('ff7f'), // I16: 32767
    hex('80'), // I8: -128
    hex('ff'), // U8: 255
    hex('00 01'), // BOOL
  ]);
  const header = JSON.stringify({
    h: { dtype: 'F16', shape: [5], data_offsets: [0, 10] },
    bf: { dtype: 'BF16', shape: [2], data_offsets: [10, 14] },
    d: { dtype: 'F64', shape: [1], data_offsets: [14, 22] },
    l: { dtype: 'I64', shape: [2], data_offsets: [22, 38] },
    i: { dtype: 'I32', shape: [1], data_offsets: [38, 42] },
    s: { dtype: 'I16', shape: [1], data_offsets: [42, 44] },
    c: { dtype: 'I8', shape: [1], data_offsets: [44, 45] },
    u: { dtype: 'U8', shape: [1], data_offsets: [45, 46] },
    t: { dtype: 'BOOL', shape: [2], data_offsets: [46, 48] },
  });
  const d = decodeSafetensors(file(header, data));
  const v = (n: string): number[] => Array.from(d.tensors.get(n)?.data ?? []);
  assert.deepEqual(v('h'), [1, -2, 0, Infinity, 2 ** -24]);
  assert.deepEqual(v('bf'), [1, -3]);
  assert.deepEqual(v('d'), [1.5]);
  assert.deepEqual(v('l'), [5, -3]);
  assert.deepEqual(v('i'), [2 ** 24]);
  assert.deepEqual(v('s'), [32767]);
  assert.deepEqual(v('c'), [-128]);
  assert.deepEqual(v('u'), [255]);
  assert.deepEqual(v('t'), [0, 1]);
  assert.equal(d.tensors.get('h')?.dtype, 'F16');
  // An integer float32 cannot hold exactly is an error, not a silent rounding.
  const inexact = file(JSON.stringify({ x: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }), hex('01000001'));
  assert.throws(
    () => decodeSafetensors(inexact, 'f.st'),
    oneLine(
      /^f\.st is not a valid safetensors file: tensor x \(I32\) holds 16777217 at index 0, which float32 cannot represent exactly$/,
    ),
  );
});

test('safetensors reader: one-line errors that name the file', () => {
  const t = (buf: Buffer, re: RegExp): void =>
    assert.throws(() => decodeSafetensors(buf, '/data/w.safetensors'), oneLine(re));
  const pre = '^/data/w\\.safetensors is not a valid safetensors file: ';
  const r = (s: string): RegExp => new RegExp(pre + s);
  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  t(Buffer.alloc(5), r('it is truncated \\(5 bytes, shorter than the 8-byte header length\\)$'));
  t(
    Buffer.concat([u64(1000), Buffer.alloc(8)]),
    r('header length 1000 is larger than the file \\(16 bytes\\); it is truncated$'),
  );
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(2n ** 63n, 0);
  t(huge, r('header length 9223372036854775808 is larger than the file \\(16 bytes\\)$'));
  t(file('{"a": nope}'), r('its header is not valid JSON \\('));
  t(Buffer.concat([u64(8), hex('7b22ff227d202020')]), r('its header is not valid UTF-8$'));
  t(file('[1,2]'), r('its header is not a JSON object$'));
  t(file('{"__metadata__":{"k":1}}'), r("__metadata__ value for 'k' is not a string$"));
  t(
    file('{"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}', Buffer.alloc(8)),
    r('tensor a has dtype U64; this reader supports F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL$'),
  );
  t(
    file('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', Buffer.alloc(4)),
    r('tensor a has an invalid shape \\[-1\\]$'),
  );
  t(
    file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', Buffer.alloc(4)),
    r('tensor a has invalid data_offsets \\[0\\]$'),
  );
  t(
    file('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', Buffer.alloc(8)),
    r('tensor a has 8 bytes but shape \\[3\\] of F32 needs 12$'),
  );
  // A file cut short inside the data: the classic truncated download.
  const whole = file(ok, Buffer.alloc(8));
  t(
    whole.subarray(0, whole.length - 3),
    r('it is truncated: tensor a needs data bytes up to 8 but the data section has 5$'),
  );
  t(Buffer.concat([whole, Buffer.alloc(4)]), r('4 bytes after the last tensor are not described by the header$'));
  t(
    file(
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      Buffer.alloc(8),
    ),
    r('tensors a and b overlap'),
  );
  t(
    file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', Buffer.alloc(8)),
    r('there is a gap of 4 bytes before tensor a'),
  );
});

test('readSafetensors / writeSafetensors: atomic file round trip, errors name the path', () => {
  const dir = tmp();
  const f = path.join(dir, 'weights.safetensors');
  const big = new Float32Array(300_000).map((_, i) => Math.sin(i));
  const tensors: NamedTensor[] = [
    { name: 'big', shape: [600, 500], data: big },
    { name: 'sub', shape: [3], data: big.subarray(10, 13) }, // a view with a byteOffset
  ];
  writeSafetensors(f, tensors, { producer: 'test' });
  assert.deepEqual(fs.readFileSync(f), encodeSafetensors(tensors, { producer: 'test' }));
  const d = readSafetensors(f);
  assert.deepEqual(d.tensors.get('big')?.data, big);
  assert.deepEqual(Array.from(d.tensors.get('sub')?.data ?? []), Array.from(big.subarray(10, 13)));
  assert.deepEqual(d.metadata, { producer: 'test' });
  assert.deepEqual(fs.readdirSync(dir), ['weights.safetensors']);
  assert.throws(
    () => readSafetensors(path.join(dir, 'nope.safetensors')),
    oneLine(/^cannot read .*nope\.safetensors: no such file \(ENOENT\)$/),
  );
  fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 1000));
  assert.throws(
    () => readSafetensors(f),
    oneLine(
      new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a valid safetensors file: it is truncated`),
    ),
  );
});

test('safetensors writer rejects what it cannot represent', () => {
  const e = (t: NamedTensor[], re: RegExp, meta?: Record<string, string>): void =>
    assert.throws(() => encodeSafetensors(t, meta), oneLine(re));
  e(
    [{ name: 'a', shape: [2, 2], data: new Float32Array(3) }],
    /^cannot encode safetensors: tensor a: shape \[2, 2\] has 4 elements but data has 3$/,
  );
  e(
    [
      { name: 'a', shape: [1], data: new Float32Array(1) },
      { name: 'a', shape: [1], data: new Float32Array(1) },
    ],
    /tensor a appears twice/,
  );
  e([{ name: '__metadata__', shape: [1], data: new Float32Array(1) }], /invalid tensor name/);
  e([{ name: 'a', shape: [1.5], data: new Float32Array(1) }], /tensor a has an invalid shape \[1\.5\]/);
  e([], /metadata value for 'n' is a number/, { n: 3 } as unknown as Record<string, string>);
});

test('safetensors cross-check with the Python reference (skipped unless python3 has safetensors)', (t) => {
  const probe = spawnSync('python3', ['-c', 'import safetensors.numpy, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('python3 with safetensors and numpy is not available');
    return;
  }
  const dir = tmp();
  const ours = path.join(dir, 'ours.safetensors');
  const theirs = path.join(dir, 'theirs.safetensors');
  writeSafetensors(
    ours,
    [
      { name: 'b.w', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) },
      { name: 'a', shape: [1], data: Float32Array.from([-1]) },
    ],
    { format: 'pt' },
  );
  const py = [
    'import sys, numpy as np',
    'from safetensors.numpy import load_file, save_file',
    'from safetensors import safe_open',
    't = load_file(sys.argv[1])',
    'assert t["b.w"].shape == (2, 3) and t["b.w"].dtype == np.float32 and t["b.w"][1, 2] == 6.5, t',
    'assert t["a"].tolist() == [-1.0]',
    'assert safe_open(sys.argv[1], "np").metadata() == {"format": "pt"}',
    'save_file({"a": np.array([-1], np.float32), "b.w": np.arange(6, dtype=np.float32).reshape(2, 3) + 1}, sys.argv[2], metadata={"format": "pt"})',
  ].join('\n');
  const run = spawnSync('python3', ['-c', py, ours, theirs], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const d = readSafetensors(theirs);
  assert.deepEqual(Array.from(d.tensors.get('b.w')?.data ?? []), [1, 2, 3, 4, 5, 6]);
  // Same tensors sorted by name: the reference's bytes are ours.
  const mine = encodeSafetensors(
    [
      { name: 'a', shape: [1], data: Float32Array.from([-1]) },
      { name: 'b.w', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    ],
    { format: 'pt' },
  );
  assert.equal(fs.readFileSync(theirs).toString('hex'), mine.toString('hex'));
});

// ---------------------------------------------------------------------------------------------
// Names, shapes, layout

const TWO_LAYERS: BertShapeConfig = {
  vocabSize: 100,
  hidden: 8,
  layers: 2,
  intermediate: 32,
  maxPositions: 16,
  typeVocab: 2,
  norm: 'post',
  mlmHead: true,
};

test('Hugging Face names and kit-layout shapes for a 2-layer BERT', () => {
  const specs = bertParameterShapes(TWO_LAYERS);
  const byName = new Map(specs.map((s) => [s.name, s]));
  assert.equal(byName.size, specs.length, 'names are unique');
  // 5 embedding tensors, 16 per block, 5 in the MLM head; no pooler in BertForMaskedLM.
  assert.equal(specs.length, 5 + 2 * 16 + 5);
  assert.deepEqual(
    specs.slice(0, 6).map((s) => s.name),
    [
      'bert.embeddings.word_embeddings.weight',
      'bert.embeddings.position_embeddings.weight',
      'bert.embeddings.token_type_embeddings.weight',
      'bert.embeddings.LayerNorm.weight',
      'bert.embeddings.LayerNorm.bias',
      'bert.encoder.layer.0.attention.self.query.weight',
    ],
  );
  const shape = (n: string): number[] | undefined => byName.get(n)?.shape;
  assert.deepEqual(shape('bert.embeddings.word_embeddings.weight'), [100, 8]);
  assert.deepEqual(shape('bert.embeddings.position_embeddings.weight'), [16, 8]);
  assert.deepEqual(shape('bert.embeddings.token_type_embeddings.weight'), [2, 8]);
  assert.deepEqual(shape('bert.encoder.layer.1.attention.self.key.bias'), [8]);
  assert.deepEqual(shape('bert.encoder.layer.1.attention.output.LayerNorm.weight'), [8]);
  assert.deepEqual(shape('bert.encoder.layer.0.intermediate.dense.weight'), [8, 32]); // [in, out]
  assert.deepEqual(shape('bert.encoder.layer.0.output.dense.weight'), [32, 8]);
  assert.deepEqual(shape('bert.encoder.layer.1.output.LayerNorm.bias'), [8]);
  assert.deepEqual(shape('cls.predictions.transform.dense.weight'), [8, 8]);
  assert.deepEqual(shape('cls.predictions.bias'), [100]);
  assert.ok(!byName.has('cls.predictions.decoder.weight') && !byName.has('bert.pooler.dense.weight'));
  assert.ok(!specs.some((s) => isPreLnOnly(s.name)));
  assert.ok(!byName.has('bert.encoder.layer.2.attention.self.query.weight'));

  // PreLN adds the final LayerNorm; a classifier adds pooler + classifier; no MLM head drops 5.
  const pre = bertParameterShapes({ ...TWO_LAYERS, norm: 'pre', numLabels: 3 });
  assert.equal(pre.length, 5 + 2 * 16 + 2 + 5 + 4);
  assert.deepEqual(
    pre.filter((s) => isPreLnOnly(s.name)).map((s) => s.name),
    ['bert.encoder.FinalLayerNorm.weight', 'bert.encoder.FinalLayerNorm.bias'],
  );
  assert.deepEqual(pre.find((s) => s.name === 'classifier.weight')?.shape, [8, 3]);
  assert.deepEqual(pre.find((s) => s.name === 'bert.pooler.dense.weight')?.shape, [8, 8]);
  assert.equal(
    bertParameterShapes({ ...TWO_LAYERS, mlmHead: false, numLabels: 2 }).filter((s) => s.name.startsWith('cls.'))
      .length,
    0,
  );
  assert.throws(
    () => bertParameterShapes({ ...TWO_LAYERS, hidden: 0 }),
    oneLine(/^bert parameter shapes: hidden must be a whole number >= 1, got 0$/),
  );
  assert.throws(
    () => bertParameterShapes({ ...TWO_LAYERS, norm: 'mid' as 'pre' }),
    oneLine(/norm must be 'post' or 'pre'/),
  );
});

test('weight decay flags follow BERT: not on biases or LayerNorm, yes on dense weights and embeddings', () => {
  const specs = bertParameterShapes({ ...TWO_LAYERS, norm: 'pre', numLabels: 2 });
  for (const s of specs) {
    const want = !(s.name.endsWith('.bias') || s.name.includes('LayerNorm'));
    assert.equal(s.decay, want, s.name);
  }
  const decayed = specs.filter((s) => s.decay).map((s) => s.name);
  assert.ok(decayed.includes('bert.embeddings.word_embeddings.weight'));
  assert.ok(decayed.includes('classifier.weight'));
  assert.ok(!decayed.includes('cls.predictions.bias'));
  assert.ok(!decayed.includes('bert.encoder.FinalLayerNorm.weight'));
});

test('dense weights and PyTorch layout: transpose round trip, passthrough for the rest', () => {
  const linear = bertParameterShapes({ ...TWO_LAYERS, numLabels: 2 })
    .filter((s) => isLinearWeight(s.name))
    .map((s) => s.name);
  // 6 per block (q, k, v, attention out, intermediate, output) + MLM transform + pooler + classifier.
  assert.equal(linear.length, 2 * 6 + 3);
  for (const n of [
    'bert.embeddings.word_embeddings.weight',
    'bert.embeddings.LayerNorm.weight',
    'bert.encoder.layer.0.output.LayerNorm.weight',
    'bert.encoder.layer.0.output.dense.bias',
    'cls.predictions.bias',
  ]) {
    assert.equal(isLinearWeight(n), false, n);
  }
  assert.equal(isLinearWeight('cls.predictions.decoder.weight'), true);

  assert.deepEqual(Array.from(transpose2d(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)), [1, 4, 2, 5, 3, 6]);
  // Sizes that straddle the 64×64 tiles.
  for (const [r, c] of [
    [1, 1],
    [1, 70],
    [65, 1],
    [37, 70],
    [64, 129],
    [130, 200],
  ]) {
    const x = Float32Array.from({ length: r * c }, (_, i) => i * 0.5 - 3);
    const y = transpose2d(x, r, c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) assert.equal(y[j * r + i], x[i * c + j]);
    assert.deepEqual(transpose2d(y, c, r), x);
  }
  assert.throws(() => transpose2d(new Float32Array(5), 2, 3), /data has 5 elements, not 2×3/);

  const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // kit [in=2, out=3]
  const torch = toTorchLayout('bert.encoder.layer.0.intermediate.dense.weight', [2, 3], w);
  assert.deepEqual(torch.shape, [3, 2]);
  assert.deepEqual(Array.from(torch.data), [1, 4, 2, 5, 3, 6]);
  const back = fromTorchLayout('bert.encoder.layer.0.intermediate.dense.weight', torch.shape, torch.data);
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(back.data, w);
  const emb = toTorchLayout('bert.embeddings.word_embeddings.weight', [2, 3], w);
  assert.equal(emb.data, w, 'no copy for tensors with the same layout');
  assert.deepEqual(emb.shape, [2, 3]);
  assert.throws(() => toTorchLayout('classifier.weight', [6], w), /dense weight and must be 2-D/);
});

test('PreLN names in DeepSpeed terms, transformers config for PostLN, and the tfjs-free index', () => {
  assert.equal(
    deepSpeedPreLnName('bert.encoder.layer.3.attention.output.LayerNorm.weight'),
    'bert.encoder.layer.3.PreAttentionLayerNorm.weight',
  );
  assert.equal(
    deepSpeedPreLnName('bert.encoder.layer.3.output.LayerNorm.bias'),
    'bert.encoder.layer.3.PostAttentionLayerNorm.bias',
  );
  assert.equal(
    deepSpeedPreLnName('bert.encoder.layer.3.output.dense.weight'),
    'bert.encoder.layer.3.output.dense.weight',
  );
  assert.equal(deepSpeedPreLnName('bert.encoder.FinalLayerNorm.weight'), 'bert.encoder.FinalLayerNorm.weight');
  const cfg = hfBertConfig({ ...TWO_LAYERS, heads: 2, layerNormEps: 1e-12 });
  assert.equal(cfg.num_hidden_layers, 2);
  assert.equal(cfg.intermediate_size, 32);
  assert.deepEqual(cfg.architectures, ['BertForMaskedLM']);
  assert.equal(hfBertConfig({ ...TWO_LAYERS, heads: 2 }, { numLabels: 2 }).num_labels, 2);
  assert.throws(
    () => hfBertConfig({ ...TWO_LAYERS, heads: 2, norm: 'pre' }),
    /PreLN model has no transformers BertConfig equivalent/,
  );
  for (const k of [
    'encodeSafetensors',
    'decodeSafetensors',
    'readSafetensors',
    'writeSafetensors',
    'writeFileAtomic',
    'writeDirAtomic',
    'checkWritableDir',
    'bertParameterShapes',
    'toTorchLayout',
  ]) {
    assert.equal(typeof (checkpointIndex as Record<string, unknown>)[k], 'function', k);
  }
  const script =
    `require(${JSON.stringify(path.join(__dirname, '..', 'src', 'checkpoint', 'index.js'))});` +
    'process.stdout.write(String(Object.keys(require.cache).some((f) => f.includes("@tensorflow"))))';
  assert.equal(
    spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' }).stdout,
    'false',
    'the index loads no tfjs',
  );
});

// ---------------------------------------------------------------------------------------------
// Crash-safe writes

test('writeFileAtomic: strings, bytes and chunk lists; keeps the file mode; nothing left behind', () => {
  const dir = tmp();
  const f = path.join(dir, 'x.bin');
  writeFileAtomic(f, 'héllo');
  assert.equal(fs.readFileSync(f, 'utf8'), 'héllo');
  fs.chmodSync(f, 0o640);
  writeFileAtomic(f, Buffer.from([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(f)], [1, 2, 3]);
  assert.equal(fs.statSync(f).mode & 0o777, 0o640);
  writeFileAtomic(f, [Buffer.from([9]), new Uint8Array(new Float32Array([1]).buffer), new Uint8Array(0)]);
  assert.equal(fs.readFileSync(f).toString('hex'), '090000803f');
  assert.deepEqual(fs.readdirSync(dir), ['x.bin']);
});

test('a failed atomic write leaves no temp file and the old content intact', () => {
  const dir = tmp();
  const f = path.join(dir, 'x.json');
  writeFileAtomic(f, 'old');
  // Tests run as root, so chmod would not stop the write: use a path under a regular file.
  const blocker = path.join(dir, 'file');
  fs.writeFileSync(blocker, '');
  assert.throws(
    () => writeFileAtomic(path.join(blocker, 'y'), 'new'),
    oneLine(/^cannot write .*file\/y: a parent is not a directory \(ENOTDIR\); choose another output directory$/),
  );
  // The rename fails (target is a directory): the temp file it had written is removed.
  fs.mkdirSync(path.join(dir, 'sub'));
  assert.throws(
    () => writeFileAtomic(path.join(dir, 'sub'), 'new'),
    oneLine(/^cannot write .*sub: the target is a directory \(EISDIR\)/),
  );
  // A chunk that is not bytes fails half-way through the temp file.
  assert.throws(
    () => writeFileAtomic(f, [Buffer.from('new'), 42 as unknown as Uint8Array]),
    oneLine(/^cannot write .*x\.json: /),
  );
  assert.equal(fs.readFileSync(f, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['file', 'sub', 'x.json']);
  assert.throws(
    () => writeFileAtomic('/proc/pld-kit-cannot-write-here', 'x'),
    oneLine(/^cannot write \/proc\/pld-kit-cannot-write-here: /),
  );
});

test('writeDirAtomic: replaces a directory whole; failures keep the old one; no leftovers', () => {
  const root = tmp();
  const ck = path.join(root, 'checkpoint');
  writeDirAtomic(ck, { 'a.txt': 'one', 'b.bin': Buffer.from([1]) });
  writeDirAtomic(ck + '/', { 'a.txt': 'two', 'c.txt': [Buffer.from('x'), Buffer.from('y')] });
  assert.deepEqual(fs.readdirSync(ck).sort(), ['a.txt', 'c.txt']); // b.bin is gone: the directory is replaced, not merged
  assert.equal(fs.readFileSync(path.join(ck, 'c.txt'), 'utf8'), 'xy');
  assert.deepEqual(fs.readdirSync(root), ['checkpoint']);

  assert.throws(
    () => writeDirAtomic(ck, { 'a.txt': 'three', 'bad.bin': [42 as unknown as Uint8Array] }),
    oneLine(/^cannot write checkpoint .*checkpoint: .*; choose another --out$/),
  );
  assert.equal(fs.readFileSync(path.join(ck, 'a.txt'), 'utf8'), 'two');
  assert.deepEqual(fs.readdirSync(root), ['checkpoint']);
  assert.throws(() => writeDirAtomic(ck, { '../escape': 'x' }), oneLine(/invalid file name "\.\.\/escape"/));
  const blocker = path.join(root, 'file');
  fs.writeFileSync(blocker, '');
  assert.throws(
    () => writeDirAtomic(path.join(blocker, 'ck'), { a: 'x' }),
    oneLine(/^cannot write checkpoint .*file\/ck: a parent is not a directory \(ENOTDIR\); choose another --out$/),
  );
  assert.throws(() => writeDirAtomic(blocker, { a: 'x' }), oneLine(/it exists and is not a directory \(EEXIST\)/));
  assert.equal(fs.statSync(blocker).isFile(), true);
});

test('crash windows of writeDirAtomic: readers find the backup, writers recover', async () => {
  const root = tmp();
  const ck = path.join(root, 'ck');
  const old = backupDirName(ck);
  assert.equal(old, ck + '.old');
  assert.equal(resolveCheckpointDir(ck), null);
  // Killed between "rename dir -> backup" and "rename tmp -> dir": only the backup (and a full tmp).
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  }).stdout;
  fs.mkdirSync(old);
  fs.writeFileSync(path.join(old, 'gen'), '1');
  const staleTmp = `${ck}.tmp-${dead}-abcd1234`;
  fs.mkdirSync(staleTmp);
  fs.writeFileSync(path.join(staleTmp, 'gen'), '2');
  const liveTmp = `${ck}.tmp-${process.ppid}-abcd1234`; // a live writer's (our parent stands in)
  fs.mkdirSync(liveTmp);
  assert.equal(resolveCheckpointDir(ck), old);
  assert.equal(fs.readFileSync(path.join(resolveCheckpointDir(ck) as string, 'gen'), 'utf8'), '1');
  assert.equal(recoverDir(ck), ck);
  assert.equal(fs.readFileSync(path.join(ck, 'gen'), 'utf8'), '1');
  assert.deepEqual(fs.readdirSync(root).sort(), ['ck', path.basename(liveTmp)]);
  fs.rmdirSync(liveTmp);
  // Killed after the second rename: new dir complete, stale backup beside it.
  fs.mkdirSync(old);
  assert.equal(resolveCheckpointDir(ck), ck);
  writeDirAtomic(ck, { gen: '3' });
  assert.deepEqual(fs.readdirSync(root), ['ck']);
  assert.equal(fs.readFileSync(path.join(ck, 'gen'), 'utf8'), '3');
  // Killed file writes leave `.name.pid.hex.tmp`; removeStaleTemps clears those of dead writers.
  fs.writeFileSync(path.join(root, `.x.json.${dead}.0badf00d.tmp`), 'partial');
  fs.writeFileSync(path.join(root, `.x.json.${process.ppid}.0badf00d.tmp`), 'in flight');
  assert.deepEqual(removeStaleTemps(root), [`.x.json.${dead}.0badf00d.tmp`]);
  assert.deepEqual(fs.readdirSync(root).sort(), [`.x.json.${process.ppid}.0badf00d.tmp`, 'ck']);
});

test('checkWritableDir creates the directory or fails in one line', () => {
  const root = tmp();
  checkWritableDir(path.join(root, 'a', 'b'));
  assert.deepEqual(fs.readdirSync(path.join(root, 'a', 'b')), []);
  const f = path.join(root, 'file');
  fs.writeFileSync(f, '');
  assert.throws(() => checkWritableDir(path.join(f, 'run')), {
    message: `output directory ${path.join(f, 'run')} is not writable: a parent is not a directory (ENOTDIR); choose another --out`,
  });
  assert.throws(() => checkWritableDir(f), {
    message: `output directory ${f} is not writable: it exists and is not a directory (EEXIST); choose another --out`,
  });
});

/**
 * Runs a child that rewrites a target forever (generation g, g+1, ...), printing each generation
 * once it is written; kills it with SIGKILL at a random moment after the first write, and returns
 * the last generation the child reported complete.
 */
async function killWriterOnce(script: string, startGen: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', script, String(startGen)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let started!: () => void;
  const firstWrite = new Promise<void>((r) => (started = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('\n')) started();
  });
  const exited = new Promise((r) => child.on('exit', r));
  await Promise.race([firstWrite, exited]);
  await new Promise((r) => setTimeout(r, Math.random() * 60));
  child.kill('SIGKILL');
  await exited;
  const done = out.split('\n').filter(Boolean).map(Number);
  return done.length ? done[done.length - 1] : startGen - 1;
}

const SIZE = 3_000_000;
/** Every byte of a generation's file carries g % 251, after an 8-byte header holding g. */
function checkGeneration(buf: Buffer, what: string): number {
  assert.equal(buf.length, SIZE, `${what} has ${buf.length} bytes: a torn write`);
  const g = Number(buf.readBigUInt64LE(0));
  for (let i = 8; i < buf.length; i += 997) assert.equal(buf[i], g % 251, `${what} mixes generations`);
  assert.ok(
    buf.subarray(8).every((x) => x === g % 251),
    `${what} mixes generations`,
  );
  return g;
}

test('SIGKILL at random moments never leaves a torn file (writeFileAtomic)', async () => {
  const dir = tmp();
  const target = path.join(dir, 'big.bin');
  const mod = path.join(__dirname, '..', 'src', 'util', 'atomic.js');
  const script =
    `const a=require(${JSON.stringify(mod)});const fs=require('fs');` +
    `for(let g=Number(process.argv[1]);;g++){const b=Buffer.alloc(${SIZE},g%251);b.writeBigUInt64LE(BigInt(g),0);` +
    `a.writeFileAtomic(${JSON.stringify(target)},b);fs.writeSync(1,g+'\\n');}`;
  let gen = 0;
  for (let i = 0; i < 25; i++) {
    const last = await killWriterOnce(script, gen);
    const seen = checkGeneration(fs.readFileSync(target), `kill ${i}`);
    // Old or new: the last completed generation or the one in flight, nothing else.
    assert.ok(seen === last || seen === last + 1, `kill ${i}: found generation ${seen}, last completed ${last}`);
    gen = seen + 1;
  }
  removeStaleTemps(dir);
  assert.deepEqual(fs.readdirSync(dir), ['big.bin']);
});

test('SIGKILL at random moments never leaves a torn checkpoint directory (writeDirAtomic)', async () => {
  const dir = tmp();
  const target = path.join(dir, 'ckpt');
  const mod = path.join(__dirname, '..', 'src', 'util', 'atomic.js');
  const script =
    `const a=require(${JSON.stringify(mod)});const fs=require('fs');` +
    `for(let g=Number(process.argv[1]);;g++){const b=Buffer.alloc(${SIZE},g%251);b.writeBigUInt64LE(BigInt(g),0);` +
    `a.writeDirAtomic(${JSON.stringify(target)},{'weights.safetensors':b,'optimizer.safetensors':b,'state.json':JSON.stringify({step:g})});fs.writeSync(1,g+'\\n');}`;
  let gen = 0;
  let sawBackup = 0;
  for (let i = 0; i < 25; i++) {
    const last = await killWriterOnce(script, gen);
    const found = resolveCheckpointDir(target);
    assert.ok(found, `kill ${i}: no checkpoint at all`);
    if (found !== target) sawBackup++;
    const step = (JSON.parse(fs.readFileSync(path.join(found, 'state.json'), 'utf8')) as { step: number }).step;
    for (const f of ['weights.safetensors', 'optimizer.safetensors'])
      assert.equal(
        checkGeneration(fs.readFileSync(path.join(found, f)), `kill ${i} ${f}`),
        step,
        `kill ${i}: ${f} and state.json disagree`,
      );
    assert.ok(step === last || step === last + 1, `kill ${i}: found generation ${step}, last completed ${last}`);
    // Half the time the next writer cleans up first; otherwise it does so itself.
    if (i % 2) assert.equal(recoverDir(target), target);
    gen = step + 1;
  }
  recoverDir(target);
  assert.deepEqual(fs.readdirSync(dir), ['ckpt']);
  if (sawBackup) console.log(`# ${sawBackup} of 25 kills landed between the two renames (readers used the backup)`);
});
