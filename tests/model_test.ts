import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { EVAL } from "../lib/model/context.ts";
import { fromTimmLayout, toTimmLayout } from "../lib/model/params.ts";
import { VisionTransformer, type VitShape } from "../lib/model/vit.ts";
import { Rng } from "../lib/random.ts";
import { useWasm } from "./_helpers.ts";

await useWasm();

const SHAPE: VitShape = {
  imageSize: 8,
  channels: 2,
  numClasses: 5,
  patchSize: 4,
  dModel: 12,
  depth: 2,
  heads: 3,
  mlpRatio: 2,
  qkvBias: true,
  dropout: 0.1,
  attnDropout: 0.1,
  dropPath: 0.2,
  pool: "cls",
};

/** The parameter count written out by hand from timm's layout. */
function handCount(s: VitShape): number {
  const d = s.dModel;
  const n = (s.imageSize / s.patchSize) ** 2;
  const h = Math.round(d * s.mlpRatio);
  const patch = d * s.channels * s.patchSize ** 2 + d;
  const tokens = d + (n + 1) * d;
  const block = 2 * d + (3 * d * d + (s.qkvBias ? 3 * d : 0)) + (d * d + d) + 2 * d + (h * d + h) + (d * h + d);
  return patch + tokens + s.depth * block + 2 * d + (s.numClasses * d + s.numClasses);
}

function images(b: number, s: VitShape, seed = 1): tf.Tensor4D {
  const rng = Rng.fromSeed(seed, "test");
  const data = Float32Array.from({ length: b * s.imageSize * s.imageSize * s.channels }, () => rng.normal());
  return tf.tensor4d(data, [b, s.imageSize, s.imageSize, s.channels]);
}

for (const pool of ["cls", "mean"] as const) {
  Deno.test(`ViT (${pool} pool): logits shape, no NaN, parameter count by hand`, async () => {
    const shape = { ...SHAPE, pool };
    const model = new VisionTransformer(shape, 0);
    const before = tf.memory().numTensors;
    const x = images(3, shape);
    const logits = tf.tidy(() => model.apply(x, EVAL));
    assert.deepEqual(logits.shape, [3, 5]);
    const values = await logits.data();
    assert.ok(values.every(Number.isFinite));
    assert.equal(model.paramCount(), handCount(shape));
    const names = model.params.list().map((s) => s.name);
    assert.ok(names.includes(pool === "cls" ? "norm.weight" : "fc_norm.weight"));
    assert.ok(!names.includes(pool === "cls" ? "fc_norm.weight" : "norm.weight"));
    tf.dispose([x, logits]);
    assert.equal(tf.memory().numTensors - before, 0, "a tidy forward leaves no tensors behind");
    model.dispose();
  });
}

Deno.test("the forward that hands each block's last residual add to the next LayerNorm gives Block.apply's bytes, block by block", async () => {
  for (const pool of ["cls", "mean"] as const) {
    const shape = { ...SHAPE, pool, depth: 3 };
    const model = new VisionTransformer(shape, 0);
    const x = images(3, shape);
    const fused = await tf.tidy(() => model.forwardFeatures(x, EVAL)).data();
    const stepwise = await tf.tidy(() => {
      // The embedding as forwardFeatures makes it, then every block on its own.
      const patches = model.patchEmbed.apply(x); // [B, N, D]
      const cls = tf.add(tf.zeros([3, 1, shape.dModel]), model.clsToken); // [B, 1, D]
      let t = tf.add(tf.concat([cls, patches], 1), model.posEmbed) as tf.Tensor3D; // [B, N+1, D]
      for (const block of model.blocks) t = block.apply(t, EVAL);
      return pool === "cls" ? model.norm.apply(t) : t;
    }).data();
    assert.deepEqual(new Uint8Array(fused.buffer), new Uint8Array(stepwise.buffer), `${pool} pooling`);
    tf.dispose(x);
    model.dispose();
  }
});

Deno.test("ViT parameters carry timm's names and shapes", () => {
  const model = new VisionTransformer(SHAPE, 0);
  const shapes = Object.fromEntries(model.params.list().map((s) => [s.name, [...s.timmShape]]));
  assert.deepEqual(shapes["patch_embed.proj.weight"], [12, 2, 4, 4]);
  assert.deepEqual(shapes["patch_embed.proj.bias"], [12]);
  assert.deepEqual(shapes["cls_token"], [1, 1, 12]);
  assert.deepEqual(shapes["pos_embed"], [1, 5, 12]);
  assert.deepEqual(shapes["blocks.1.attn.qkv.weight"], [36, 12]);
  assert.deepEqual(shapes["blocks.1.attn.proj.weight"], [12, 12]);
  assert.deepEqual(shapes["blocks.0.mlp.fc1.weight"], [24, 12]);
  assert.deepEqual(shapes["blocks.0.mlp.fc2.weight"], [12, 24]);
  assert.deepEqual(shapes["blocks.0.norm1.weight"], [12]);
  assert.deepEqual(shapes["head.weight"], [5, 12]);
  model.dispose();
});

Deno.test("every parameter receives a finite, non-zero gradient", () => {
  const model = new VisionTransformer(SHAPE, 0);
  const x = images(4, SHAPE);
  const y = tf.tensor1d([0, 1, 2, 3], "int32");
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(x, { training: true, rng: Rng.fromSeed(0, "dropout") });
    return tf.losses.softmaxCrossEntropy(tf.oneHot(y, 5), logits) as tf.Scalar;
  }, model.params.variables());
  for (const p of model.params.list()) {
    const g = grads[p.variable.name];
    assert.ok(g, `no gradient for ${p.name}`);
    const norm = tf.norm(g).dataSync()[0]!;
    assert.ok(Number.isFinite(norm) && norm > 0, `gradient of ${p.name} is ${norm}`);
  }
  tf.dispose([x, y, value, grads]);
  model.dispose();
});

Deno.test("same seed, same weights; another seed, other weights; dropout only in training", async () => {
  const a = new VisionTransformer(SHAPE, 7);
  const b = new VisionTransformer(SHAPE, 7);
  const c = new VisionTransformer(SHAPE, 8);
  const w = async (m: VisionTransformer) => Array.from(await m.params.get("blocks.0.attn.qkv.weight").data());
  assert.deepEqual(await w(a), await w(b));
  assert.notDeepEqual(await w(a), await w(c));
  const x = images(2, SHAPE);
  const e1 = await a.apply(x, EVAL).data();
  const e2 = await a.apply(x, EVAL).data();
  assert.deepEqual(Array.from(e1), Array.from(e2));
  const t1 = await a.apply(x, { training: true, rng: Rng.fromSeed(0, "dropout") }).data();
  assert.notDeepEqual(Array.from(t1), Array.from(e1));
  for (const m of [a, b, c]) m.dispose();
});

Deno.test("patch embedding as matMul equals timm's strided conv", async () => {
  const model = new VisionTransformer(SHAPE, 3);
  const x = images(2, SHAPE, 5);
  const tokens = model.patchEmbed.apply(x); // [B, N, D]
  const spec = model.params.param("patch_embed.proj.weight");
  const timm = toTimmLayout(spec, (await model.params.get(spec.name).data()) as Float32Array); // [D, C, P, P]
  const kernel = tf.transpose(tf.tensor4d(timm, [12, 2, 4, 4]), [2, 3, 1, 0]); // [P, P, C, D] for tf.conv2d
  const conv = tf.add(tf.conv2d(x, kernel as tf.Tensor4D, 4, "valid"), model.params.get("patch_embed.proj.bias")); // [B, 2, 2, D]
  const expected = await tf.reshape(conv, [2, 4, 12]).data();
  const got = await tokens.data();
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-5, `token value ${i}`);
  assert.deepEqual(Array.from(fromTimmLayout(spec, timm)), Array.from(await model.params.get(spec.name).data()));
  model.dispose();
});

Deno.test("input of the wrong size is a clear error", () => {
  const model = new VisionTransformer(SHAPE, 0);
  const x = tf.zeros([1, 12, 12, 2]) as tf.Tensor4D;
  assert.throws(() => model.apply(x, EVAL), /Input size \(12×12\) doesn't match model \(8×8\)/);
  model.dispose();
});

Deno.test("attention equals timm's maths written out by hand (q, k, v rows and head split)", async () => {
  const shape = { ...SHAPE, dModel: 4, heads: 2, depth: 1 };
  const model = new VisionTransformer(shape, 11);
  const attn = model.blocks[0]!.attn;
  const [b, t, d, h, hd] = [2, 3, 4, 2, 2];
  const rng = Rng.fromSeed(5, "attn");
  const xv = Float32Array.from({ length: b * t * d }, () => rng.normal());
  const y = await tf.tidy(() => attn.apply(tf.tensor3d(xv, [b, t, d]), EVAL)).data();
  const spec = (n: string) => model.params.param(n);
  const W = toTimmLayout(spec("blocks.0.attn.qkv.weight"), (await attn.qkv.weight.data()) as Float32Array); // [3D, D]
  const bias = (await attn.qkv.bias!.data()) as Float32Array; // [3D]
  const P = toTimmLayout(spec("blocks.0.attn.proj.weight"), (await attn.proj.weight.data()) as Float32Array); // [D, D]
  const pb = (await attn.proj.bias!.data()) as Float32Array;
  for (let n = 0; n < b; n++) {
    // qkv[t][j] = Σ_i x[t][i]·W[j][i] + bias[j]; q = rows 0..D-1, k = D..2D-1, v = 2D..3D-1
    const qkv = Array.from(
      { length: t },
      (_, ti) =>
        Array.from(
          { length: 3 * d },
          (_, j) =>
            bias[j]! +
            Array.from({ length: d }, (_, i) => xv[(n * t + ti) * d + i]! * W[j * d + i]!).reduce((a, c) => a + c, 0),
        ),
    );
    const out = Array.from({ length: t }, () => new Array(d).fill(0));
    for (let hh = 0; hh < h; hh++) {
      for (let i = 0; i < t; i++) {
        const s = Array.from({ length: t }, (_, j) => {
          let dot = 0;
          for (let c = 0; c < hd; c++) dot += qkv[i]![hh * hd + c]! * qkv[j]![d + hh * hd + c]!;
          return dot * hd ** -0.5;
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j < t; j++) {
          for (let c = 0; c < hd; c++) out[i]![hh * hd + c] += (e[j]! / z) * qkv[j]![2 * d + hh * hd + c]!;
        }
      }
    }
    for (let i = 0; i < t; i++) {
      for (let o = 0; o < d; o++) {
        const ref = pb[o]! + out[i]!.reduce((a, v, c) => a + v * P[o * d + c]!, 0);
        assert.ok(
          Math.abs(y[(n * t + i) * d + o]! - ref) < 1e-5,
          `y[${n},${i},${o}] ${y[(n * t + i) * d + o]} vs ${ref}`,
        );
      }
    }
  }
  model.dispose();
});

Deno.test("LayerNorm's hand-written gradient equals autodiff through tf.moments", async () => {
  const model = new VisionTransformer(SHAPE, 2);
  const ln = model.blocks[0]!.norm1;
  const rng = Rng.fromSeed(9, "ln");
  const x = tf.tensor3d(Float32Array.from({ length: 2 * 3 * 12 }, () => rng.normal() * 3 + 1), [2, 3, 12]);
  const up = tf.tensor3d(Float32Array.from({ length: 2 * 3 * 12 }, () => rng.normal()), [2, 3, 12]);
  const reference = (xs: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(xs, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(xs, mean), tf.rsqrt(tf.add(variance, 1e-6))), w), b);
  };
  const loss = (y: tf.Tensor) => tf.sum(tf.mul(y, up)) as tf.Scalar;
  const [dx1] = tf.grads((xs: tf.Tensor) => loss(ln.apply(xs)))([x]);
  const ours = tf.variableGrads(() => loss(ln.apply(x)), [ln.weight, ln.bias]).grads;
  const [dx2, dw2, db2] = tf.grads((xs: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => loss(reference(xs, w, b)))([
    x,
    ln.weight,
    ln.bias,
  ]);
  const close = async (a: tf.Tensor, b: tf.Tensor, what: string, tol: number) => {
    const [u, v] = [await a.data(), await b.data()];
    u.forEach((value, i) => assert.ok(Math.abs(value - v[i]!) < tol, `${what}[${i}] ${value} vs ${v[i]}`));
  };
  await close(ln.apply(x), reference(x, ln.weight, ln.bias), "y", 1e-5);
  await close(dx1!, dx2!, "dx", 1e-4);
  await close(ours[ln.weight.name]!, dw2!, "dw", 1e-4);
  await close(ours[ln.bias.name]!, db2!, "db", 1e-4);
  model.dispose();
});
