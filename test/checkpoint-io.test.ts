import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '../src/checkpoint/safetensors';
import { writeDirAtomic, writeFileAtomic } from '../src/checkpoint/atomic';
import { bertParameterShapes, isLinearWeight, transpose2d } from '../src/checkpoint/hf-names';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'pld-ckpt-'));

test('safetensors bytes match the format spec, built by hand', () => {
  const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const want = Buffer.concat([Buffer.from([padded.length, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(padded), Buffer.from(new Float32Array([1.5, -2]).buffer)]);
  const got = encodeSafetensors([{ name: 'a', shape: [2], data: new Float32Array([1.5, -2]) }]);
  assert.deepEqual(got, want);
  assert.equal((8 + padded.length) % 8, 0);
  // little-endian float32 of 1.5 is 00 00 c0 3f
  assert.deepEqual([...got.subarray(8 + padded.length, 12 + padded.length)], [0x00, 0x00, 0xc0, 0x3f]);
});

test('safetensors round trip with metadata, F16 reading, and validation errors', () => {
  const t = [{ name: 'w', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }, { name: 'b', shape: [3], data: Float32Array.from([0.5, 0, -1]) }];
  const d = decodeSafetensors(encodeSafetensors(t, { format: 'pt' }));
  assert.deepEqual(d.metadata, { format: 'pt' });
  assert.deepEqual(Array.from(d.tensors.get('w')?.data ?? []), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(d.tensors.get('b')?.shape, [3]);
  const h = JSON.stringify({ x: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } });
  const f16 = Buffer.concat([Buffer.alloc(8), Buffer.from(h), Buffer.from([0x00, 0x3c, 0x00, 0xc0])]); // 1.0, −2.0
  f16.writeBigUInt64LE(BigInt(h.length), 0);
  assert.deepEqual(Array.from(decodeSafetensors(f16).tensors.get('x')?.data ?? []), [1, -2]);
  assert.throws(() => decodeSafetensors(Buffer.alloc(4), 'f.st'), { message: 'f.st is not a valid safetensors file: shorter than its 8-byte header length' });
  const big = Buffer.alloc(16);
  big.writeBigUInt64LE(1000n, 0);
  assert.throws(() => decodeSafetensors(big, 'f.st'), { message: 'f.st is not a valid safetensors file: header length 1000 exceeds the file size 16' });
  const wrong = encodeSafetensors([{ name: 'a', shape: [2], data: new Float32Array(2) }]);
  const cut = wrong.subarray(0, wrong.length - 4);
  assert.throws(() => decodeSafetensors(cut, 'f.st'), { message: 'f.st is not a valid safetensors file: tensor a offsets [0, 8] are outside the 4 data bytes' });
  const i64 = JSON.stringify({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } });
  const ib = Buffer.concat([Buffer.alloc(8), Buffer.from(i64), Buffer.alloc(8)]);
  ib.writeBigUInt64LE(BigInt(i64.length), 0);
  assert.throws(() => decodeSafetensors(ib, 'f.st'), { message: 'f.st is not a valid safetensors file: tensor x has dtype I64; only F32, F16 and BF16 are read' });
});

test('Hugging Face names, shapes and PyTorch layout', () => {
  const specs = bertParameterShapes({ vocabSize: 100, hidden: 8, layers: 2, intermediate: 32, maxPositions: 16, typeVocab: 2, norm: 'pre', mlmHead: true, numLabels: 3 });
  const names = specs.map((s) => s.name);
  assert.equal(specs.length, 5 + 2 * 16 + 2 + 5 + 4);
  assert.ok(names.includes('bert.encoder.layer.1.attention.self.query.weight'));
  assert.deepEqual(specs.find((s) => s.name === 'bert.encoder.layer.0.intermediate.dense.weight')?.shape, [8, 32]);
  assert.ok(names.includes('bert.encoder.FinalLayerNorm.bias') && names.includes('cls.predictions.bias') && names.includes('classifier.weight'));
  assert.equal(specs.find((s) => s.name.endsWith('LayerNorm.weight'))?.decay, false);
  assert.equal(specs.find((s) => s.name.endsWith('query.bias'))?.decay, false);
  assert.equal(isLinearWeight('bert.encoder.layer.0.output.dense.weight'), true);
  assert.equal(isLinearWeight('bert.embeddings.word_embeddings.weight'), false);
  assert.deepEqual(Array.from(transpose2d(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3)), [1, 4, 2, 5, 3, 6]);
});

test('a failed atomic write leaves no temp file and the old content intact', () => {
  const dir = tmp();
  const f = path.join(dir, 'x.json');
  writeFileAtomic(f, 'old');
  const blocker = path.join(dir, 'file');
  fs.writeFileSync(blocker, '');
  assert.throws(() => writeFileAtomic(path.join(blocker, 'y'), 'new'), /cannot write .*: a parent is not a directory \(ENOTDIR\)/);
  assert.equal(fs.readFileSync(f, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['file', 'x.json']);
});

test('SIGKILL at random moments never leaves a corrupt checkpoint directory', async () => {
  const dir = tmp();
  const target = path.join(dir, 'ckpt');
  const mod = path.join(__dirname, '..', 'src', 'checkpoint', 'atomic.js');
  // Writer: rewrites the directory forever with two 2 MB files that each carry the generation number.
  const script = `const a=require(${JSON.stringify(mod)});for(let g=0;;g++){const b=Buffer.alloc(2e6,g%251);a.writeDirAtomic(${JSON.stringify(target)},{'a.bin':b,'b.bin':b,'gen.txt':String(g)});}`;
  for (let i = 0; i < 12; i++) {
    const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 200)));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const { recoverDir } = require(mod) as { recoverDir: (d: string) => void };
    recoverDir(target);
    if (!fs.existsSync(target)) continue; // killed before the first generation landed
    const gen = Number(fs.readFileSync(path.join(target, 'gen.txt'), 'utf8'));
    for (const f of ['a.bin', 'b.bin']) {
      const b = fs.readFileSync(path.join(target, f));
      assert.equal(b.length, 2e6);
      assert.ok(b.every((x) => x === gen % 251), `${f} of generation ${gen} is mixed`);
    }
  }
  assert.ok(fs.existsSync(target), 'at least one generation was written');
});
