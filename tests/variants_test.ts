/**
 * Named model sizes (`model.variant`), as timm and big_vision have them: each resolves to its
 * table's sizes, keys set beside it win, and each trains at a tiny input size.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { configHash } from "../lib/config/hash.ts";
import { configFromObject } from "../lib/config/load.ts";
import { VARIANTS } from "../lib/config/schema.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { Rng } from "../lib/random.ts";
import { useWasm } from "./_helpers.ts";

await useWasm();

const TINY_DATA = { dataset: "synthetic", image_size: 8, channels: 1, num_classes: 3 };

Deno.test("a variant fills d_model, depth, heads and mlp_ratio; /P the patch; keys set beside it win", () => {
  // Without /P the patch is the config's own (the default 7, on MNIST's 28×28).
  const ti = configFromObject({ model: { variant: "ti" } });
  assert.deepEqual(
    [ti.model.d_model, ti.model.depth, ti.model.heads, ti.model.mlp_ratio, ti.model.patch_size],
    [192, 12, 3, 4, 7],
  );
  const s4 = configFromObject({ model: { variant: "S/4" }, data: TINY_DATA });
  assert.deepEqual([s4.model.d_model, s4.model.heads, s4.model.patch_size], [384, 6, 4]);
  const shallow = configFromObject({ model: { variant: "b/4", depth: 2 }, data: TINY_DATA }, ["model.heads=6"]);
  assert.deepEqual([shallow.model.d_model, shallow.model.depth, shallow.model.heads], [768, 2, 6]);
  // The resolved config holds the sizes, not the name: the same run as writing them out.
  assert.ok(!("variant" in ti.model));
  const explicit = configFromObject({ model: { d_model: 192, depth: 12, heads: 3, mlp_ratio: 4 } });
  assert.equal(configHash(ti), configHash(explicit));
});

Deno.test("an unknown variant is a config error naming the key and the choices", () => {
  assert.throws(
    () => configFromObject({ model: { variant: "huge" } }),
    /model\.variant: expected one of mu, ti, s, b, optionally with \/PATCH \(e\.g\. ti\/4\), got 'huge'/,
  );
  assert.throws(() => configFromObject({}, ["model.variant=ti/x"]), /--set model\.variant=ti\/x: model\.variant/);
});

for (const name of Object.keys(VARIANTS)) {
  Deno.test(`variant ${name} at 8×8 input: logits of the right shape, finite, a gradient for every parameter`, () => {
    const config = configFromObject({ model: { variant: `${name}/4` }, data: TINY_DATA });
    const model = new VisionTransformer(vitShapeFromConfig(config), 0);
    try {
      const x = tf.randomNormal([2, 8, 8, 1], 0, 1, "float32", 1) as tf.Tensor4D;
      const y = tf.tensor1d([0, 2], "int32");
      const params = model.params.list();
      const { value, grads } = tf.variableGrads(() => {
        const logits = model.apply(x, { training: true, rng: Rng.fromSeed(0, "dropout") });
        assert.deepEqual(logits.shape, [2, 3]);
        return tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), logits) as tf.Scalar;
      }, params.map((p) => p.variable));
      assert.ok(Number.isFinite(value.dataSync()[0]!));
      for (const p of params) {
        const g = grads[p.variable.name];
        assert.ok(g, `no gradient for ${p.name}`);
        const norm = tf.tidy(() => tf.norm(g).dataSync()[0]!);
        assert.ok(Number.isFinite(norm) && norm > 0, `gradient of ${p.name} is ${norm}`);
      }
      tf.dispose([x, y, value, grads]);
    } finally {
      model.dispose();
    }
  });
}
