/**
 * The stale read-backs on webgpu, replayed (lib/backend/webgpu.ts explains them): a chain of
 * kernels on the GPU with, in the same submit, an `AddN` over more tensors than WebGPU's default
 * limit lets one shader bind. With the old registration (default limits, tfjs's AddN) and tfjs's
 * batching, every kernel submitted with the rejected shader was dropped and the chain read back
 * zeros; with a submit per kernel (the old workaround) only AddN read back 0. Both fail here.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";

Deno.test("webgpu: a batch with a many-input AddN reads back right, step after step, with submits batched", async () => {
  await initBackend("webgpu");
  const batch = tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
  assert.ok(batch > 1, `submits must be batched (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE is ${batch})`);
  // Above tfjs-webgpu's CPU hand-off size (1,000 values), so every kernel runs on the GPU.
  const n = 1024;
  for (let step = 1; step <= 3; step++) {
    const got = tf.tidy(() => {
      const base = tf.fill([n], step);
      const x = tf.add(tf.mul(base, 3), 1); // 3·step + 1
      // 10 inputs + 1 output: more storage buffers than WebGPU's default 8 per shader.
      const s = tf.addN(Array.from({ length: 10 }, (_, i) => tf.add(base, i))); // 10·step + 45
      const y = tf.mul(x, 2); // recorded after AddN, in the same batch
      return [x, s, y];
    });
    const [x, s, y] = await Promise.all(got.map((t) => t.data()));
    tf.dispose(got);
    for (const [name, values, want] of [["x", x, 3 * step + 1], ["addN", s, 10 * step + 45], ["y", y, 6 * step + 2]]) {
      const wrong = Array.from(values as Float32Array).findIndex((v) => v !== want);
      assert.equal(
        wrong,
        -1,
        `step ${step}: ${name}[${wrong}] read back ${(values as Float32Array)[wrong]}, want ${want}`,
      );
    }
  }
});
