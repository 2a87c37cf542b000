/**
 * lib/config/size.ts, the one source of a ViT's parameter count and FLOPs: the count equals the
 * built model's, and bench, the memory check and the sweep estimate all use it.
 */
import assert from "node:assert/strict";
import { forwardGflopPerImage, trainGflopPerImage } from "../lib/bench/flops.ts";
import { estimateTrainingMemory } from "../lib/config/estimate.ts";
import { loadConfig } from "../lib/config/load.ts";
import type { Config } from "../lib/config/schema.ts";
import { vitForwardFlops, vitMlpHidden, vitParamCount, vitSizeFromConfig, vitTrainFlops } from "../lib/config/size.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { estimateSeconds, forwardFlops } from "../experiments/estimate.ts";
import { DATASET_INFO } from "../lib/config/dataset_info.ts";
import { CIFAR_COUNTS } from "../lib/data/cifar.ts";
import { FASHION_MNIST_COUNTS } from "../lib/data/fashion_mnist.ts";
import { mnistFiles } from "../lib/data/mnist.ts";
import { readIdx } from "../lib/data/idx.ts";
import { PROJECT_ROOT, tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

/** @returns the built model's parameter count, the model freed */
function builtCount(config: Config): number {
  const model = new VisionTransformer(vitShapeFromConfig(config), 0);
  try {
    return model.paramCount();
  } finally {
    model.dispose();
  }
}

// Pooling × qkv bias, and sizes that move every term: 3 channels, more classes, an MLP ratio
// that rounds (16 · 3.3 = 52.8 → 53), one block.
const CASES: string[][] = [];
for (const pool of ["cls", "mean"]) {
  for (const bias of [true, false]) {
    CASES.push([`model.pool=${pool}`, `model.qkv_bias=${bias}`]);
    CASES.push([
      `model.pool=${pool}`,
      `model.qkv_bias=${bias}`,
      "model.mlp_ratio=3.3",
      "model.depth=1",
      "data.channels=3",
      "data.num_classes=7",
      "data.image_size=12",
    ]);
  }
}

for (const overrides of CASES) {
  Deno.test(`vitParamCount equals the built model's paramCount (${overrides.join(" ")})`, () => {
    const config = tinyConfig(overrides);
    const want = builtCount(config);
    assert.equal(vitParamCount(vitSizeFromConfig(config)), want);
    assert.equal(vitParamCount(vitShapeFromConfig(config)), want, "a model's VitShape is a VitSize");
    assert.equal(estimateTrainingMemory(config).params, want, "the memory check counts the same");
  });
}

Deno.test("vitParamCount: the shipped configs' models, qkv bias on and off", () => {
  for (const name of ["vit-small.yaml", "fashion-vit.yaml", "vit-tiny.yaml"]) {
    for (const bias of [true, false]) {
      const config = loadConfig(`${PROJECT_ROOT}configs/${name}`, { overrides: [`model.qkv_bias=${bias}`] });
      assert.equal(vitParamCount(vitSizeFromConfig(config)), builtCount(config), `${name} qkv_bias=${bias}`);
    }
  }
});

Deno.test("qkv bias adds 3·d_model per block to the count, and no FLOP", () => {
  const on = vitSizeFromConfig(tinyConfig(["model.qkv_bias=true"]));
  const off = vitSizeFromConfig(tinyConfig(["model.qkv_bias=false"]));
  assert.equal(vitParamCount(on) - vitParamCount(off), on.depth * 3 * on.dModel);
  assert.equal(vitForwardFlops(on), vitForwardFlops(off));
});

Deno.test("vitForwardFlops: the matmul count written out for vit-small", () => {
  // 16 patches of 7·7·1, 17 tokens, D 64, H 128, 6 blocks, 10 classes.
  const size = vitSizeFromConfig(loadConfig(`${PROJECT_ROOT}configs/vit-small.yaml`));
  assert.equal(vitMlpHidden(size), 128);
  const patch = 2 * 16 * 49 * 64;
  const block = 2 * 17 * 64 * 192 + 2 * 2 * 17 * 17 * 64 + 2 * 17 * 64 * 64 + 2 * 2 * 17 * 64 * 128;
  assert.equal(vitForwardFlops(size), patch + 6 * block + 2 * 64 * 10);
  assert.equal(vitTrainFlops(size), 3 * vitForwardFlops(size));
});

Deno.test("bench's GFLOP and the sweep estimate's FLOPs are vitForwardFlops", () => {
  for (const overrides of CASES) {
    const config = tinyConfig(overrides);
    const flops = vitForwardFlops(vitSizeFromConfig(config));
    const shape = vitShapeFromConfig(config);
    assert.equal(forwardFlops(config), flops);
    assert.equal(forwardGflopPerImage(shape), flops / 1e9);
    assert.equal(trainGflopPerImage(shape), 3 * (flops / 1e9));
  }
  // vit-small's 40 epochs on MNIST: what experiments/estimate.ts gave with its own copy of the formula.
  const small = loadConfig(`${PROJECT_ROOT}configs/vit-small.yaml`);
  assert.ok(Math.abs(estimateSeconds(small) - 10829.036) < 1e-3, `${estimateSeconds(small)}`);
});

Deno.test("the sweep estimate counts each dataset's own training images", () => {
  // The table the estimate reads agrees with what the loaders expect and MNIST's files hold.
  assert.equal(DATASET_INFO.mnist.train_images, readIdx(mnistFiles("train").images).dims[0]);
  assert.equal(DATASET_INFO["fashion-mnist"].train_images, FASHION_MNIST_COUNTS.train);
  assert.equal(DATASET_INFO.cifar10.train_images, CIFAR_COUNTS.train);
  assert.equal(DATASET_INFO.cifar100.train_images, CIFAR_COUNTS.train);
  // Same model and schedule: Fashion-MNIST costs what MNIST does (it once counted synthetic_size).
  const mnist = tinyConfig(["data.dataset=mnist", "data.image_size=28", "data.num_classes=10"]);
  const fashion = tinyConfig(["data.dataset=fashion-mnist", "data.image_size=28", "data.num_classes=10"]);
  assert.equal(estimateSeconds(fashion), estimateSeconds(mnist));
  // idx: the size is in its files, unless data.subset sets it.
  assert.ok(Number.isNaN(estimateSeconds(tinyConfig(["data.dataset=idx", "data.path=/x"]))));
  const subset = estimateSeconds(tinyConfig(["data.dataset=idx", "data.path=/x", "data.subset=600"]));
  assert.ok(subset > 0 && subset < estimateSeconds(mnist), `${subset}`);
});

Deno.test("vitSizeFromConfig: the model's fields", () => {
  const config = tinyConfig(["model.qkv_bias=false", "model.mlp_ratio=3"]);
  const shape = vitShapeFromConfig(config);
  const size = vitSizeFromConfig(config);
  for (const [key, value] of Object.entries(size)) {
    assert.equal(shape[key as keyof typeof shape], value, key);
  }
});
