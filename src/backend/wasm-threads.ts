/**
 * Placeholder single-threaded wasm init (the threaded version replaces this file).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export async function initWasm(opts: { threads?: number } = {}): Promise<{ threads: number; simd: boolean; threaded: boolean }> {
  void opts;
  await tf.setBackend('wasm');
  await tf.ready();
  return { threads: 1, simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')), threaded: false };
}
