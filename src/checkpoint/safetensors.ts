/**
 * The safetensors format (Hugging Face): an 8-byte little-endian u64 header length N, N bytes of
 * UTF-8 JSON `{ name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..} }` padded
 * with spaces to a multiple of 8, then the little-endian tensor bytes, contiguous, in header order.
 * The kit writes F32 only; it reads F32 (and F16/BF16 into float32).
 */
import * as fs from 'fs';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface DecodedSafetensors {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] has ${n} elements but data has ${t.data.length}`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hlen = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(8 + hlen + offset);
  out.writeBigUInt64LE(BigInt(hlen), 0);
  out.write(json, 8, 'utf8');
  let at = 8 + hlen;
  for (const t of tensors) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (LE) bytes.copy(out, at);
    else for (let i = 0; i < t.data.length; i++) out.writeFloatLE(t.data[i], at + 4 * i);
    at += t.data.byteLength;
  }
  return out;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function decodeSafetensors(buf: Buffer, source = 'safetensors data'): DecodedSafetensors {
  const bad = (why: string): Error => new Error(`${source} is not a valid safetensors file: ${why}`);
  if (buf.length < 8) throw bad('shorter than its 8-byte header length');
  const hlen = Number(buf.readBigUInt64LE(0));
  if (hlen > buf.length - 8) throw bad(`header length ${hlen} exceeds the file size ${buf.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('its header is not JSON');
  }
  const base = 8 + hlen;
  const dataLen = buf.length - base;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const spans: [number, number, string][] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: off } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!Array.isArray(shape) || !Array.isArray(off) || off.length !== 2) throw bad(`tensor ${name} lacks shape or data_offsets`);
    const [b, e] = off;
    if (!(b >= 0 && e >= b && e <= dataLen)) throw bad(`tensor ${name} offsets [${b}, ${e}] are outside the ${dataLen} data bytes`);
    const n = shape.reduce((a, x) => a * x, 1);
    const width = { F32: 4, F16: 2, BF16: 2 }[dtype];
    if (!width) throw bad(`tensor ${name} has dtype ${dtype}; only F32, F16 and BF16 are read`);
    if (e - b !== n * width) throw bad(`tensor ${name} has ${e - b} bytes but shape [${shape}] of ${dtype} needs ${n * width}`);
    spans.push([b, e, name]);
    const data = new Float32Array(n);
    if (dtype === 'F32' && LE) {
      new Uint8Array(data.buffer).set(buf.subarray(base + b, base + e));
    } else for (let i = 0; i < n; i++) {
      const at = base + b + i * width;
      data[i] = dtype === 'F32' ? buf.readFloatLE(at) : dtype === 'F16' ? f16(buf.readUInt16LE(at)) : new Float32Array(new Uint32Array([buf.readUInt16LE(at) << 16]).buffer)[0];
    }
    tensors.set(name, { shape, data });
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors ${spans[i - 1][2]} and ${spans[i][2]} overlap`);
  return { tensors, metadata };
}

export function readSafetensors(file: string): DecodedSafetensors {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return decodeSafetensors(buf, file);
}
