import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { parse } from "csv-parse/sync";
import { decode } from "fast-png";
import { EVAL, type ForwardContext } from "../lib/model/context.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { evaluateRun } from "../lib/runs/evaluate_run.ts";
import { runExperiment } from "../lib/runs/experiment.ts";
import { classMetrics, confidentErrors, confusionMatrix } from "../lib/viz/confusion.ts";
import { attentionDistanceSums, patchDistances } from "../lib/viz/distance.ts";
import { filterComponents, symmetricEigen } from "../lib/viz/filters.ts";
import { positionSimilarity } from "../lib/viz/pos_similarity.ts";
import { pickExamples } from "../lib/viz/pick.ts";
import { attentionRollout } from "../lib/viz/rollout.ts";
import { visualizeRun } from "../lib/viz/visualize.ts";
import { tempDir, tinyConfig, useWasm, vitlab } from "./_helpers.ts";

await useWasm();

const close = (actual: ArrayLike<number>, expected: number[], tol = 1e-9) => {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i]! - e) <= tol, `[${i}] ${actual[i]} ≠ ${e}`));
};

Deno.test("rollout: two layers by hand, cls and mean pooling", () => {
  // Layer 1: head 0 attends to itself, head 1 to the next token. Mean + I, rows renormalised:
  // [[.75, .25, 0], [0, .75, .25], [.25, 0, .75]].
  const layer1 = Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0);
  // Layer 2: uniform in both heads → [[2/3, 1/6, 1/6], [1/6, 2/3, 1/6], [1/6, 1/6, 2/3]].
  const layer2 = new Float32Array(18).fill(1 / 3);
  // R = Â2·Â1: row 0 = [13/24, 7/24, 4/24], row 1 = [3/24, 13/24, 7/24], row 2 = [7/24, 4/24, 13/24].
  close(attentionRollout([layer1, layer2], 2, 3, "cls"), [7 / 24, 4 / 24], 1e-7);
  close(attentionRollout([layer1, layer2], 2, 3, "mean"), [17 / 48, 20 / 48], 1e-7);
  // The order matters with layers that do not commute. Layer 3: head 0 looks at the class token,
  // head 1 everywhere alike → Â3 rows [5/6, 1/12, 1/12], [1/3, 7/12, 1/12], [1/3, 1/12, 7/12].
  const layer3 = Float32Array.from({ length: 18 }, (_, k) => (k < 9 ? (k % 3 === 0 ? 1 : 0) : 1 / 3));
  // Â3·Â1: row 0 [13/48, 4/48], rows 1 and 2 [25/48, 10/48] and [7/48, 22/48] → mean [1/3, 1/3].
  close(attentionRollout([layer1, layer3], 2, 3, "cls"), [13 / 48, 4 / 48], 1e-7);
  close(attentionRollout([layer1, layer3], 2, 3, "mean"), [1 / 3, 1 / 3], 1e-7);
  // Â1·Â3: row 0 = [.75, .25, 0]·Â3 → [10/48, 4/48].
  close(attentionRollout([layer3, layer1], 2, 3, "cls"), [10 / 48, 4 / 48], 1e-7);
  assert.throws(() => attentionRollout([new Float32Array(4)], 2, 3, "cls"), /expected 2×3×3/);
});

Deno.test("attention distance: patch-centre distances and weighted sums by hand", async () => {
  close(patchDistances(2, 4), [
    0,
    4,
    4,
    4 * Math.SQRT2,
    4,
    0,
    4 * Math.SQRT2,
    4,
    4,
    4 * Math.SQRT2,
    0,
    4,
    4 * Math.SQRT2,
    4,
    4,
    0,
  ], 1e-6);
  // Head 0: patch 0 splits .4/.4 between itself and patch 1 (0.2 on the class token is left out):
  // 2 px; patch 1 looks at patch 3: 4 px; patch 2 spreads evenly: (4 + 4√2 + 0 + 4) / 4; patch 3
  // at patch 2: 4 px. Head 1: every patch at itself: 0.
  const head0 = [
    [1, 0, 0, 0, 0],
    [0.2, 0.4, 0.4, 0, 0],
    [0, 0, 0, 0, 1],
    [0, 0.25, 0.25, 0.25, 0.25],
    [0.5, 0, 0, 0.5, 0],
  ];
  const head1 = Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i === j ? 1 : 0)));
  const one = [...head0.flat(), ...head1.flat()];
  const attn = tf.tensor4d([...one, ...one], [2, 2, 5, 5]);
  const d = tf.tensor2d(patchDistances(2, 4), [4, 4]);
  const sums = attentionDistanceSums(attn, d);
  close(await sums.data(), [2 * (2 + 4 + 2 + Math.SQRT2 + 4), 0], 1e-5);
  tf.dispose([attn, d, sums]);
});

Deno.test("position similarity: cosines by hand, class token left out", () => {
  // Class token, then (1, 0), (−1, 0), (0, 2), (3, 3).
  const sim = positionSimilarity(Float32Array.of(5, 5, 1, 0, -1, 0, 0, 2, 3, 3), 5);
  const r = Math.SQRT1_2;
  close(sim, [1, -1, 0, r, -1, 1, 0, -r, 0, 0, 1, r, r, -r, r, 1], 1e-12);
});

Deno.test("filter PCA: known components through the covariance and the Gram matrix", () => {
  // Four filters of three pixels around (1, 1, 1): ±2 along x (variance 8) and ±1 along y (2).
  // As vitlab holds the weight: [F, D], one filter per column.
  const cols = [[3, 1, 1], [-1, 1, 1], [1, 2, 1], [1, 0, 1]];
  const weight = Float32Array.from({ length: 12 }, (_, k) => cols[k % 4]![Math.floor(k / 4)]!);
  const { components, explained } = filterComponents(weight, 3, 28);
  close(explained, [0.8, 0.2, 0], 1e-9);
  close(components[0]!, [1, 0, 0], 1e-9);
  close(components[1]!, [0, 1, 0], 1e-9);
  // Two filters of four pixels (D < F): the one component is their difference, unit length.
  const two = [[2, 3, 1, 1], [0, -1, 1, 1]];
  const w2 = Float32Array.from({ length: 8 }, (_, k) => two[k % 2]![Math.floor(k / 2)]!);
  const pca = filterComponents(w2, 4, 28);
  close(pca.explained, [1, 0], 1e-9);
  close(pca.components[0]!, [1 / Math.sqrt(5), 2 / Math.sqrt(5), 0, 0], 1e-9);
  const { values } = symmetricEigen(Float64Array.of(2, 1, 0, 1, 2, 0, 0, 0, 5), 3);
  close([...values].sort(), [1, 3, 5], 1e-12);
});

Deno.test("confusion, per-class metrics and errors by hand", () => {
  const labels = Int32Array.of(0, 0, 0, 1, 1, 2);
  const preds = Int32Array.of(0, 0, 1, 1, 2, 2);
  const m = confusionMatrix(labels, preds, 3);
  assert.deepEqual([...m], [2, 1, 0, 0, 1, 1, 0, 0, 1]);
  const [a, b, c] = classMetrics(m, 3);
  assert.deepEqual([a!.support, a!.precision, a!.recall, a!.accuracy], [3, 1, 2 / 3, 5 / 6]);
  assert.deepEqual([b!.precision, b!.recall, b!.f1], [0.5, 0.5, 0.5]);
  assert.deepEqual([c!.precision, c!.recall], [0.5, 1]);
  assert.ok(Number.isNaN(classMetrics(confusionMatrix(Int32Array.of(0), Int32Array.of(0), 2), 2)[1]!.recall));
  const conf = Float32Array.of(0.9, 0.9, 0.7, 0.9, 0.95, 0.5);
  assert.deepEqual(confidentErrors(labels, preds, conf, 5), [4, 2]);
  assert.deepEqual(confidentErrors(labels, preds, conf, 1), [4]);
});

Deno.test("the drawn examples cover the classes whether the split is sorted or interleaved by class", () => {
  const interleaved = Int32Array.from({ length: 100 }, (_, i) => i % 10);
  const sorted = Int32Array.from({ length: 100 }, (_, i) => Math.floor(i / 10));
  for (const labels of [interleaved, sorted]) {
    const picked = pickExamples(labels, 100, 16, 10);
    assert.equal(new Set(picked).size, 16);
    assert.equal(new Set(picked.map((i) => labels[i])).size, 10);
  }
  assert.deepEqual(pickExamples(sorted, 100, 3, 10), [0, 10, 20]);
  assert.deepEqual(pickExamples(Int32Array.of(1, 1, 1), 3, 3, 2), [0, 1, 2]);
});

Deno.test("the model hands out its real attention on request and computes the same logits", async () => {
  const config = tinyConfig(["model.depth=2", "model.heads=2"]);
  const model = new VisionTransformer(vitShapeFromConfig(config), 3);
  const x = tf.randomNormal([3, 8, 8, 1], 0, 1, "float32", 5) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const plain = tf.tidy(() => model.apply(x, EVAL));
  const ctx: ForwardContext = { training: false, attention: [] };
  const traced = tf.tidy(() => model.apply(x, ctx));
  assert.deepEqual(await traced.data(), await plain.data());
  assert.equal(ctx.attention!.length, 2);
  assert.deepEqual(ctx.attention![0]!.shape, [3, 2, 5, 5]);
  // Block 0's maps by hand from its weights: softmax(q·kᵀ/√hd) of norm1(tokens).
  const hand = tf.tidy(() => {
    const tokens = tf.add(
      tf.concat([tf.tile(model.clsToken, [3, 1, 1]), model.patchEmbed.apply(x)], 1),
      model.posEmbed,
    );
    const n = tf.reshape(model.blocks[0]!.norm1.apply(tokens as tf.Tensor3D), [15, 16]) as tf.Tensor2D;
    const { weight, bias } = model.blocks[0]!.attn.qkv;
    const qkv = bias ? tf.add(tf.matMul(n, weight), bias) : tf.matMul(n, weight); // [B·T, 3D]
    const heads = (i: number) =>
      tf.transpose(tf.reshape(tf.slice(qkv, [0, 16 * i], [15, 16]), [3, 5, 2, 8]), [0, 2, 1, 3]);
    return tf.softmax(tf.div(tf.matMul(heads(0), heads(1), false, true), Math.sqrt(8)));
  });
  close(await ctx.attention![0]!.data(), Array.from(await hand.data()), 1e-5);
  const rowSums = tf.sum(ctx.attention![1]!, -1);
  const rows = await rowSums.data();
  rows.forEach((s) => assert.ok(Math.abs(s - 1) < 1e-5));
  tf.dispose([plain, traced, hand, rowSums, ...ctx.attention!]);
  assert.equal(tf.memory().numTensors, before, "kept maps are the caller's to dispose, and nothing else leaks");
  tf.dispose(x);
  model.dispose();
});

for (
  const [name, overrides] of [
    ["cls pooling, 1 channel, patch 4 on 16×16", ["data.image_size=16"]],
    ["mean pooling, 3 channels, patch 2 on 8×8", ["model.pool=mean", "data.channels=3", "model.patch_size=2"]],
  ] as const
) {
  Deno.test(`viz end to end (${name}): confusion matches eval, PNGs decode, CSVs repeat`, async () => {
    const dir = tempDir();
    const config = tinyConfig([...overrides, "train.epochs=1"]);
    const { runDir } = await runExperiment(config, { runsDir: join(dir, "runs") });
    const r = await visualizeRun(runDir, { split: "test", images: 6, out: join(dir, "a") });
    const e = await evaluateRun(runDir, { split: "test" });
    const rows = parse(Deno.readTextFileSync(join(r.dir, "confusion.csv")), { columns: true }) as Record<
      string,
      string
    >[];
    let diagonal = 0;
    let total = 0;
    rows.forEach((row, i) => {
      diagonal += Number(row[`pred_${i}`]);
      for (let c = 0; c < rows.length; c++) total += Number(row[`pred_${c}`]);
    });
    assert.equal(total, e.count);
    assert.equal(diagonal / total, e.acc);
    assert.equal(r.acc, e.acc);
    const pngs = r.files.filter((f) => f.name.endsWith(".png"));
    assert.deepEqual(pngs.map((f) => f.name).sort(), [
      "attention_heads.png",
      "attention_rollout.png",
      "confusion.png",
      "errors.png",
      "patch_filters.png",
      "pos_embed_similarity.png",
    ]);
    const index = Deno.readTextFileSync(join(r.dir, "index.md"));
    for (const f of pngs) {
      const png = decode(Deno.readFileSync(join(r.dir, f.name)));
      assert.deepEqual([png.width, png.height], [f.width, f.height], f.name);
      assert.ok(index.includes(`(${f.width}×${f.height} pixels)`), `index.md states ${f.name}'s size`);
      const colours = new Set<string>();
      for (let p = 0; p < png.width * png.height && colours.size < 2; p++) {
        colours.add(Array.from(png.data.subarray(p * png.channels, (p + 1) * png.channels)).join());
      }
      assert.equal(colours.size, 2, `${f.name} is not one colour`);
    }
    assert.match(Deno.readTextFileSync(join(r.dir, "attention_distance.svg")), /^<svg/);
    const again = await visualizeRun(runDir, { split: "test", images: 6, out: join(dir, "b") });
    for (const f of again.files) {
      assert.deepEqual(Deno.readFileSync(join(dir, "b", f.name)), Deno.readFileSync(join(dir, "a", f.name)), f.name);
    }
  });
}

Deno.test("viz through the CLI prints the folder, <run>/viz by default", async () => {
  const dir = tempDir();
  const { runDir } = await runExperiment(tinyConfig(["train.epochs=1"]), { runsDir: join(dir, "runs") });
  const r = await vitlab("viz", runDir, "--checkpoint", "last"); // 16 images by default, 10 in this val split
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${join(runDir, "viz")}\n`);
  assert.match(r.stderr, /val: acc [\d.]+ over \d+ examples/);
  assert.ok(Deno.statSync(join(runDir, "viz", "index.md")).isFile);
});
