/**
 * WebGPU trains like the cpu backend, with submits batched and vitlab's fused WGSL optimizer
 * kernels (AdamW with decoupled decay, the clipping factor folded in, the gradient norm). Runs on whatever adapter Deno finds: in CI that is
 * lavapipe (Debian's mesa-vulkan-drivers, a software Vulkan), which tests/setup.sh installs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readMetrics } from "../lib/runs/metrics.ts";
import { runExperiment } from "../lib/runs/experiment.ts";
import * as tf from "@tensorflow/tfjs-core";
import { ADAM_KERNEL } from "../lib/backend/adam_update.ts";
import { SUM_SQUARES_KERNEL } from "../lib/backend/sum_squares.ts";
import { registerWebgpu } from "../lib/backend/webgpu.ts";
import { tempDir, tinyConfig } from "./_helpers.ts";

const why = await registerWebgpu().then(() => null, (e: Error) => e.message);
// tests/setup.sh installs a software Vulkan driver, and without any Deno still finds an OpenGL
// fallback: a missing adapter is a failure, with its reason, never a skip.

Deno.test({
  name: "webgpu training matches cpu within 1e-3 per epoch (losses and accuracy)",
  fn: async () => {
    assert.equal(why, null, `no WebGPU adapter: ${why}`);
    const dir = tempDir();
    // A clip of 0.1 is below this model's gradient norm (it changes the losses): the clipping factor is exercised.
    const common = ["train.epochs=2", "data.synthetic_size=128", "model.drop_path=0.1", "train.grad_clip=0.1"];
    const cpu = await runExperiment(tinyConfig([...common, "run.backend=cpu"]), { runsDir: join(dir, "cpu") });
    const gpu = await runExperiment(tinyConfig([...common, "run.backend=webgpu"]), { runsDir: join(dir, "webgpu") });
    assert.equal(gpu.summary.backend, "webgpu");
    assert.ok(tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE") > 1, "submits batched");
    for (const k of [ADAM_KERNEL, SUM_SQUARES_KERNEL]) assert.ok(tf.getKernel(k, "webgpu"), `${k} on webgpu`);
    const a = readMetrics(join(cpu.runDir, "metrics.csv"));
    const b = readMetrics(join(gpu.runDir, "metrics.csv"));
    assert.equal(b.length, a.length);
    for (let i = 0; i < a.length; i++) {
      for (const k of ["train_loss", "val_loss", "train_acc", "val_acc"] as const) {
        assert.ok(Math.abs(a[i]![k] - b[i]![k]) <= 1e-3, `epoch ${i + 1} ${k}: cpu ${a[i]![k]} vs webgpu ${b[i]![k]}`);
      }
    }
  },
});
