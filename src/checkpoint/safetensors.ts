/**
 * The safetensors format (Hugging Face), without tfjs.
 *
 *   bytes 0..8        N, a little-endian u64: the header's length in bytes
 *   bytes 8..8+N      UTF-8 JSON: { "__metadata__": {string: string},
 *                                   "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, .. }
 *                     padded with spaces so that 8 + N is a multiple of 8 (tensor data stays aligned)
 *   bytes 8+N..       the tensors' raw little-endian bytes, row-major; offsets are relative to this
 *                     section, contiguous from 0, no gaps, no overlaps, ending exactly at end of file
 *
 * Writing: F32 only, tensors in the order given (offsets increase in that order), `__metadata__`
 * first and omitted when empty, compact JSON with keys dtype/shape/data_offsets, space padding:
 * for F32 tensors given sorted by name the bytes equal those of the reference implementation
 * (the Rust crate behind `safetensors.torch.save_file`, which sorts by dtype then name).
 *
 * Reading: F32, F16, BF16 and F64 into Float32Array; I64, I32, I16, I8, U8 and BOOL into
 * Float32Array when every value is exactly representable in float32 (an error otherwise). The
 * validation is the reference's: header within the file and under 100 MB, valid UTF-8 JSON object,
 * `__metadata__` of strings, each tensor's byte length = elements × dtype size, offsets contiguous
 * and covering the data section exactly. Every error is one line naming the file.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../util/atomic';

export interface NamedTensor {
  name: string;
  /** Row-major shape; [] is a scalar. */
  shape: number[];
  data: Float32Array;
}

export interface DecodedTensor {
  shape: number[];
  /** The values, converted to float32 (a fresh array, not a view of the file). */
  data: Float32Array;
  /** The dtype stored in the file ('F32', 'F16', ...). */
  dtype: string;
}

export interface DecodedSafetensors {
  /** In data-offset order (the order they were written). */
  tensors: Map<string, DecodedTensor>;
  metadata: Record<string, string>;
}

/** The reference implementation rejects headers larger than this. */
export const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isShape(s: unknown): s is number[] {
  return Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/** The 8-byte length prefix and the padded JSON header, plus the data section's size. */
export function safetensorsHeader(
  tensors: readonly NamedTensor[],
  metadata: Record<string, string> = {},
): { header: Buffer; dataBytes: number } {
  const fail = (why: string): Error => new Error(`cannot encode safetensors: ${why}`);
  const entries: Record<string, unknown> = {};
  const metaKeys = Object.keys(metadata);
  for (const k of metaKeys)
    if (typeof metadata[k] !== 'string')
      throw fail(`metadata value for '${k}' is a ${typeof metadata[k]}, not a string`);
  if (metaKeys.length) entries.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '' || t.name === '__metadata__')
      throw fail(`invalid tensor name ${JSON.stringify(t.name)}`);
    if (Object.prototype.hasOwnProperty.call(entries, t.name)) throw fail(`tensor ${t.name} appears twice`);
    if (!isShape(t.shape)) throw fail(`tensor ${t.name} has an invalid shape ${JSON.stringify(t.shape)}`);
    if (!(t.data instanceof Float32Array)) throw fail(`tensor ${t.name} data is not a Float32Array`);
    const n = product(t.shape);
    if (n !== t.data.length)
      throw fail(`tensor ${t.name}: shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
    entries[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = JSON.stringify(entries);
  const len = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (len % 8)) % 8);
  const n = Buffer.byteLength(json, 'utf8');
  const header = Buffer.allocUnsafe(8 + n);
  header.writeBigUInt64LE(BigInt(n), 0);
  header.write(json, 8, 'utf8');
  return { header, dataBytes: offset };
}

/** The little-endian bytes of `data`: a view on little-endian hosts (no copy), a swapped copy otherwise. */
function leBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.allocUnsafe(data.byteLength);
  for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], 4 * i);
  return out;
}

/**
 * The file as a list of chunks: header, then one view per tensor on its own Float32Array (no copy
 * on little-endian hosts). Write them in order; `writeSafetensors` does so atomically.
 */
export function encodeSafetensorsChunks(
  tensors: readonly NamedTensor[],
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const { header } = safetensorsHeader(tensors, metadata);
  return [header, ...tensors.map((t) => leBytes(t.data))];
}

/** The whole file in one Buffer (each tensor copied once, into it). */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Buffer {
  const { header, dataBytes } = safetensorsHeader(tensors, metadata);
  const out = Buffer.allocUnsafe(header.length + dataBytes);
  header.copy(out, 0);
  let at = header.length;
  for (const t of tensors) {
    out.set(leBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically (temp file, fsync, rename), streaming the tensors without copying them. */
export function writeSafetensors(
  file: string,
  tensors: readonly NamedTensor[],
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(file, encodeSafetensorsChunks(tensors, metadata));
}

// ---------------------------------------------------------------------------------------------
// Decoding

const F16_TABLE = ((): Float32Array => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    t[h] =
      e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return t;
})();

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Converts one tensor's bytes (already validated) into a fresh Float32Array. */
function convert(bytes: Buffer, e: Entry, bad: (why: string) => Error): Float32Array {
  const n = product(e.shape);
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const exact = (v: number, i: number): number => {
    if (Math.fround(v) !== v)
      throw bad(`tensor ${e.name} (${e.dtype}) holds ${v} at index ${i}, which float32 cannot represent exactly`);
    return v;
  };
  switch (e.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = F16_TABLE[dv.getUint16(2 * i, true)];
      break;
    case 'BF16': {
      // bfloat16 is the top half of a float32: write the bits straight into the output.
      const bits = new Uint32Array(out.buffer);
      // Both views use the host's byte order, so this holds on big-endian hosts too.
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case 'I64':
      for (let i = 0; i < n; i++) {
        const lo = dv.getUint32(8 * i, true);
        const hi = dv.getInt32(8 * i + 4, true);
        const v = hi * 4294967296 + lo;
        if (!Number.isSafeInteger(v)) throw bad(`tensor ${e.name} (I64) holds a value beyond 2^53 at index ${i}`);
        out[i] = exact(v, i);
      }
      break;
    case 'I32':
      for (let i = 0; i < n; i++) out[i] = exact(dv.getInt32(4 * i, true), i);
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    case 'U8':
      for (let i = 0; i < n; i++) out[i] = bytes[i];
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = bytes[i] ? 1 : 0;
      break;
  }
  return out;
}

/**
 * Parses a safetensors file held in memory. `source` names it in errors (a path, usually).
 * Every tensor is converted to a fresh Float32Array; the buffer can be dropped afterwards.
 */
export function decodeSafetensors(buf: Buffer, source = 'safetensors data'): DecodedSafetensors {
  const bad = (why: string): Error => new Error(`${source} is not a valid safetensors file: ${why}`);
  if (buf.length < 8) throw bad(`it is truncated (${buf.length} bytes, shorter than the 8-byte header length)`);
  const declared = buf.readBigUInt64LE(0);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    if (declared > BigInt(buf.length - 8))
      throw bad(`header length ${declared} is larger than the file (${buf.length} bytes)`);
    throw bad(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const hlen = Number(declared);
  if (hlen > buf.length - 8)
    throw bad(`header length ${hlen} is larger than the file (${buf.length} bytes); it is truncated`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + hlen));
  } catch {
    throw bad('its header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`its header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw bad('its header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw bad(`__metadata__ value for '${k}' is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) throw bad(`tensor ${name} has no {dtype, shape, data_offsets} entry`);
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') throw bad(`tensor ${name} has no dtype`);
    const width = DTYPE_BYTES[dtype];
    if (!width)
      throw bad(`tensor ${name} has dtype ${dtype}; this reader supports ${Object.keys(DTYPE_BYTES).join(', ')}`);
    if (!isShape(shape)) throw bad(`tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw bad(`tensor ${name} has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw bad(`tensor ${name} has data_offsets [${begin}, ${end}] that end before they begin`);
    const need = product(shape) * width;
    if (!Number.isSafeInteger(need)) throw bad(`tensor ${name} has a shape too large to address`);
    if (end - begin !== need)
      throw bad(`tensor ${name} has ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${need}`);
    entries.push({ name, dtype, shape, begin, end });
  }

  const base = 8 + hlen;
  const dataLen = buf.length - base;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const last = entries.reduce((m, e) => (e.end > m.end ? e : m), { end: 0, name: '' } as { end: number; name: string });
  if (last.end > dataLen)
    throw bad(
      `it is truncated: tensor ${last.name} needs data bytes up to ${last.end} but the data section has ${dataLen}`,
    );
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < at)
      throw bad(
        `tensors ${entries[i - 1].name} and ${e.name} overlap (data_offsets [${entries[i - 1].begin}, ${entries[i - 1].end}] and [${e.begin}, ${e.end}])`,
      );
    if (e.begin > at)
      throw bad(`there is a gap of ${e.begin - at} bytes before tensor ${e.name} (data_offsets must be contiguous)`);
    at = e.end;
  }
  if (at !== dataLen) throw bad(`${dataLen - at} bytes after the last tensor are not described by the header`);

  const tensors = new Map<string, DecodedTensor>();
  for (const e of entries) {
    tensors.set(e.name, {
      shape: e.shape,
      dtype: e.dtype,
      data: convert(buf.subarray(base + e.begin, base + e.end), e, bad),
    });
  }
  return { tensors, metadata };
}

/** Reads and decodes a safetensors file; errors name the path. */
export function readSafetensors(file: string): DecodedSafetensors {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file (ENOENT)'
        : err.code === 'EISDIR'
          ? 'it is a directory (EISDIR)'
          : (err.code ?? String(e));
    throw new Error(`cannot read ${file}: ${why}`, { cause: e });
  }
  return decodeSafetensors(buf, file);
}
