/**
 * A backend's choices are a value set when it is initialised: after bench has timed blas, cpu runs
 * with cpu's gradient path, not blas's.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { matMul2d } from "../lib/backend/matmul.ts";
import { activeTraits, DEFAULT_TRAITS } from "../lib/backend/traits.ts";
import { benchTraining } from "../lib/bench/bench.ts";
import { tinyConfig } from "./_helpers.ts";

/** @returns the kernels a linear layer's gradient runs on the active backend */
async function gradientKernels(): Promise<string[]> {
  const a = tf.randomNormal([4, 3], 0, 1, "float32", 1) as tf.Tensor2D;
  const b = tf.variable(tf.randomNormal([3, 5], 0, 1, "float32", 2) as tf.Tensor2D);
  const info = await tf.profile(() => tf.variableGrads(() => tf.sum(matMul2d(a, b)) as tf.Scalar, [b]).grads);
  tf.dispose([a, b, ...Object.values(info.result as tf.NamedTensorMap)]);
  return info.kernelNames;
}

Deno.test("bench over blas then cpu: cpu takes the explicit-transpose gradient, blas the flags (Linux only)", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const config = tinyConfig(["train.batch_size=8"]);
  await benchTraining(config, { backend: "blas", steps: 1, warmup: 0 });
  assert.equal(activeTraits().transposeFlagsFree, true);
  assert.ok(!(await gradientKernels()).includes("Transpose"), "blas passes transpose flags");
  const cpu = await benchTraining(config, { backend: "cpu", steps: 1, warmup: 0 });
  assert.equal(cpu.backend, "cpu");
  assert.deepEqual(activeTraits(), DEFAULT_TRAITS);
  assert.ok((await gradientKernels()).includes("Transpose"), "cpu's gradient transposes explicitly");
  // And back: wasm after blas drops the flags too, while blas's own kernel registration is undone.
  await initBackend("blas");
  await initBackend("wasm");
  assert.equal(activeTraits().transposeFlagsFree, false);
  assert.ok((await gradientKernels()).includes("Transpose"));
});

Deno.test("a backend switched to behind vitlab's back gets the default traits", async () => {
  await initBackend("wasm");
  await tf.setBackend("cpu");
  assert.deepEqual(activeTraits(), DEFAULT_TRAITS);
  await initBackend("wasm");
});
