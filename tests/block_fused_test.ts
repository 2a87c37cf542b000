/** The fused transformer block (one kernel each way on blas) against the unfused block, byte for byte. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { recordProducts } from "../lib/backend/blas.ts";
import { enableFusedBlocks, fusedBlocksAvailable } from "../lib/backend/block_kernels.ts";
import type { ForwardContext } from "../lib/model/context.ts";
import { VisionTransformer, type VitShape } from "../lib/model/vit.ts";
import { Rng } from "../lib/random.ts";

const skip = Deno.build.os !== "linux";

function shapeOf(o: Partial<VitShape>): VitShape {
  return {
    imageSize: 28,
    patchSize: 7,
    channels: 1,
    numClasses: 10,
    dModel: 32,
    depth: 3,
    heads: 4,
    mlpRatio: 2,
    qkvBias: true,
    dropout: 0,
    attnDropout: 0,
    dropPath: 0.3,
    pool: "mean",
    ...o,
  } as VitShape;
}

/** Loss, logits and every parameter's gradient of one training forward and backward, as bytes. */
function step(shape: VitShape, fused: boolean, training: boolean) {
  enableFusedBlocks(fused);
  const model = new VisionTransformer(shape, 3);
  const rng = Rng.fromSeed(11, "data");
  const b = 6;
  const x = tf.tensor4d(
    Float32Array.from({ length: b * shape.imageSize ** 2 * shape.channels }, () => rng.normal()),
    [b, shape.imageSize, shape.imageSize, shape.channels],
  );
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], "int32"), shape.numClasses);
  const ctx: ForwardContext = { training, rng: Rng.fromSeed(12, "dropout") };
  const params = model.params.list();
  const vars = params.map((p) => p.variable);
  recordProducts(true);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, ctx)) as tf.Scalar,
    vars,
  );
  const products = recordProducts(false).length;
  const out = {
    loss: new Uint8Array(value.dataSync().buffer.slice(0)),
    grads: params.map((p) => [p.name, new Uint8Array(grads[p.variable.name]!.dataSync().buffer.slice(0))] as const),
    products,
  };
  tf.dispose([x, labels, value, ...Object.values(grads)]);
  model.params.dispose();
  enableFusedBlocks(true);
  return out;
}

const CASES: [string, Partial<VitShape>][] = [
  ["mean pooling, drop-path, qkv bias, 17 tokens", {}],
  ["cls pooling, no qkv bias, 17 tokens", { pool: "cls", qkvBias: false }],
  ["patch 4 (50 tokens: attention's products on OpenBLAS), no drop-path", { patchSize: 4, dropPath: 0 }],
];

for (const [name, o] of CASES) {
  Deno.test({
    name: `the fused block gives the unfused block's bytes in training, loss and every gradient: ${name} (Linux only)`,
    ignore: skip,
    fn: async () => {
      await initBackend("blas");
      assert.ok(fusedBlocksAvailable(), "blas registers the fused block");
      const shape = shapeOf(o);
      const fused = step(shape, true, true);
      const plain = step(shape, false, true);
      assert.deepEqual(fused.loss, plain.loss);
      assert.equal(fused.grads.length, plain.grads.length);
      for (let i = 0; i < fused.grads.length; i++) {
        assert.equal(fused.grads[i]![0], plain.grads[i]![0]);
        assert.deepEqual(fused.grads[i]![1], plain.grads[i]![1], `${fused.grads[i]![0]} differs`);
      }
      // Each block's 2 forward and 5 backward products (4 of them for the patch embedding and head).
      assert.ok(fused.products > 0 && fused.products === plain.products, `${fused.products} vs ${plain.products}`);
    },
  });
}

Deno.test({
  name:
    "the fused block in evaluation gives the unfused logits' bytes, and drop-path draws differ from the unfused only if the bytes do (Linux only)",
  ignore: skip,
  fn: async () => {
    await initBackend("blas");
    const shape = shapeOf({});
    const a = step(shape, true, false);
    const b = step(shape, false, false);
    assert.deepEqual(a.loss, b.loss);
    // Training with drop-path changes the loss from evaluation: the masks are applied.
    const t = step(shape, true, true);
    assert.notDeepEqual(t.loss, a.loss);
  },
});
