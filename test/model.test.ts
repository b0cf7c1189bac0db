import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { Bert, clsLogits, createBert, disposeBert, encode, mlmLogits } from '../src/model/bert';
import { Gates, fullDepth } from '../src/schedule';
import { Rng } from '../src/util/rng';
import { ModelConfig } from '../src/model/config';
import { maxRelErr, randomBatch, tinyConfig } from './helpers';

before(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
});

/**
 * An independent reference of the encoder written with plain tfjs ops (tf.gather, matMul with
 * transpose flags, hand-written LayerNorm): the block equations straight from the paper.
 */
function reference(model: Bert, ids: tf.Tensor2D, mask: tf.Tensor2D, gates: Gates): tf.Tensor {
  const c = model.config;
  const W = (n: string): tf.Tensor => model.params.get(n) as tf.Tensor;
  const ln = (x: tf.Tensor, n: string): tf.Tensor => {
    const mean = tf.mean(x, -1, true);
    const varr = tf.mean(tf.square(tf.sub(x, mean)), -1, true);
    return tf.add(
      tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(varr, c.layerNormEps))), W(n + '.weight')),
      W(n + '.bias'),
    );
  };
  const dense = (x: tf.Tensor, n: string): tf.Tensor => tf.add(tf.matMul(x, W(n + '.weight')), W(n + '.bias'));
  const [B, S] = ids.shape;
  const H = c.hidden;
  const dh = H / c.heads;
  let x: tf.Tensor = tf.add(
    tf.add(
      tf.gather(W('bert.embeddings.word_embeddings.weight'), ids),
      tf.gather(W('bert.embeddings.position_embeddings.weight'), tf.range(0, S, 1, 'int32')),
    ),
    tf.gather(W('bert.embeddings.token_type_embeddings.weight'), tf.zeros([B, S], 'int32')),
  );
  x = ln(x, 'bert.embeddings.LayerNorm');
  const bias = tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -10000).reshape([B, 1, 1, S]);
  const attn = (h: tf.Tensor, p: string): tf.Tensor => {
    const heads = (t: tf.Tensor): tf.Tensor => t.reshape([B, S, c.heads, dh]).transpose([0, 2, 1, 3]);
    const q = heads(dense(h, p + 'attention.self.query'));
    const k = heads(dense(h, p + 'attention.self.key'));
    const v = heads(dense(h, p + 'attention.self.value'));
    const probs = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh)), bias));
    return dense(tf.matMul(probs, v).transpose([0, 2, 1, 3]).reshape([B, S, H]), p + 'attention.output.dense');
  };
  const gelu = (t: tf.Tensor): tf.Tensor => tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.div(t, Math.SQRT2))));
  const ffn = (h: tf.Tensor, p: string): tf.Tensor =>
    dense(gelu(dense(h, p + 'intermediate.dense')), p + 'output.dense');
  for (let i = 0; i < c.layers; i++) {
    if (!gates.keep[i]) continue;
    const p = `bert.encoder.layer.${i}.`;
    const s = gates.scale[i];
    if (c.norm === 'pre') {
      const h = tf.add(x, tf.div(attn(ln(x, p + 'attention.output.LayerNorm'), p), s));
      x = tf.add(h, tf.div(ffn(ln(h, p + 'output.LayerNorm'), p), s));
    } else {
      const h = ln(tf.add(x, tf.div(attn(x, p), s)), p + 'attention.output.LayerNorm');
      x = ln(tf.add(h, tf.div(ffn(h, p), s)), p + 'output.LayerNorm');
    }
  }
  return c.norm === 'pre' ? ln(x, 'bert.encoder.FinalLayerNorm') : x;
}

function inputs(c: ModelConfig, seed: number, B = 2, S = 8): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  const b = randomBatch(new Rng(seed), c, B, S, 2);
  return { ids: tf.tensor2d(b.inputIds, [B, S], 'int32'), mask: tf.tensor2d(b.attentionMask, [B, S], 'int32') };
}

test('output shapes of encoder, MLM head and [CLS] head', () => {
  const c = tinyConfig();
  const m = createBert(c, new Rng(1), { mlmHead: true, numLabels: 3 });
  tf.tidy(() => {
    const { ids, mask } = inputs(c, 2, 2, 8);
    const seq = encode(m, { inputIds: ids, attentionMask: mask }, { training: false });
    assert.deepEqual(seq.shape, [2, 8, 16]);
    assert.deepEqual(mlmLogits(m, seq, tf.tensor1d([0, 3, 9], 'int32')).shape, [3, 50]);
    assert.deepEqual(clsLogits(m, seq, { training: false }).shape, [2, 3]);
  });
  disposeBert(m);
});

for (const norm of ['pre', 'post'] as const) {
  test(`${norm}LN encoder equals an independent reference, with and without dropped blocks`, () => {
    const c = tinyConfig({ norm });
    const m = createBert(c, new Rng(3));
    tf.tidy(() => {
      const { ids, mask } = inputs(c, 4);
      const gates: Gates = { theta: 0.6, keep: [true, false, true], scale: [0.9, 0.8, 0.6] };
      for (const g of [fullDepth(3), gates]) {
        const got = encode(
          m,
          { inputIds: ids, attentionMask: mask },
          { training: true, gates: g, rng: new Rng(0) },
        ).dataSync();
        const want = reference(m, ids, mask, g).dataSync();
        assert.ok(maxRelErr(got, want) < 1e-5, `max rel err ${maxRelErr(got, want)}`);
      }
    });
    disposeBert(m);
  });
}

test('all gates closed gives exactly the embedding path', () => {
  const c = tinyConfig({ norm: 'post' });
  const m = createBert(c, new Rng(5));
  tf.tidy(() => {
    const { ids, mask } = inputs(c, 6);
    const closed: Gates = { theta: 0.5, keep: [false, false, false], scale: [0.5, 0.5, 0.5] };
    const got = encode(m, { inputIds: ids, attentionMask: mask }, { training: true, gates: closed, rng: new Rng(0) });
    const noBlocks = createBert({ ...c, layers: 1 }, new Rng(5));
    for (const [n, v] of noBlocks.params)
      if (n.startsWith('bert.embeddings.')) v.assign(m.params.get(n) as tf.Variable);
    const emb = reference(noBlocks, ids, mask, { theta: 1, keep: [false], scale: [1] });
    assert.ok(maxRelErr(got.dataSync(), emb.dataSync()) < 1e-6, 'output must be LayerNorm(embeddings) alone');
    disposeBert(noBlocks);
  });
  disposeBert(m);
});

test('evaluation runs every block, is deterministic and ignores the schedule', () => {
  const c = tinyConfig({ hiddenDropout: 0.1, attentionDropout: 0.1 });
  const m = createBert(c, new Rng(8));
  tf.tidy(() => {
    const { ids, mask } = inputs(c, 9);
    const a = encode(m, { inputIds: ids, attentionMask: mask }, { training: false }).dataSync();
    const gates: Gates = { theta: 0.5, keep: [false, true, false], scale: [0.5, 0.5, 0.5] };
    const b = encode(m, { inputIds: ids, attentionMask: mask }, { training: false, gates, rng: new Rng(1) }).dataSync();
    assert.deepEqual(Array.from(a), Array.from(b));
    const train = encode(
      m,
      { inputIds: ids, attentionMask: mask },
      { training: true, gates: fullDepth(3), rng: new Rng(1) },
    ).dataSync();
    assert.ok(maxRelErr(train, a) > 1e-3, 'dropout must change the training output');
  });
  disposeBert(m);
});

test('PreLN and PostLN share every parameter name except the final LayerNorm', () => {
  const pre = createBert(tinyConfig({ norm: 'pre' }), new Rng(1));
  const post = createBert(tinyConfig({ norm: 'post' }), new Rng(1));
  const preNames = [...pre.params.keys()];
  const postNames = [...post.params.keys()];
  assert.deepEqual(
    preNames.filter((n) => !postNames.includes(n)),
    ['bert.encoder.FinalLayerNorm.weight', 'bert.encoder.FinalLayerNorm.bias'],
  );
  assert.deepEqual(
    postNames.filter((n) => !preNames.includes(n)),
    [],
  );
  disposeBert(pre);
  disposeBert(post);
});

test("padding does not change the real tokens' outputs", () => {
  const c = tinyConfig();
  const m = createBert(c, new Rng(11));
  tf.tidy(() => {
    const { ids, mask } = inputs(c, 12, 1, 8);
    const a = encode(m, { inputIds: ids, attentionMask: mask }, { training: false })
      .slice([0, 0, 0], [1, 6, 16])
      .dataSync();
    const ids2 = ids.arraySync();
    ids2[0][7] = 17; // change a padded token
    const b = encode(m, { inputIds: tf.tensor2d(ids2, [1, 8], 'int32'), attentionMask: mask }, { training: false })
      .slice([0, 0, 0], [1, 6, 16])
      .dataSync();
    assert.ok(maxRelErr(a, b) < 1e-6);
  });
  disposeBert(m);
});
