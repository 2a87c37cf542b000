/** A replica that fails ends the step with one line naming the replica and the micro-batch, never a hang. */
import assert from "node:assert/strict";
import { RunError } from "../lib/errors.ts";
import { ReplicaPool } from "../lib/train/replicas.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { tinyConfig, useWasm } from "./_helpers.ts";

const SHAPE = { height: 8, width: 8, channels: 1, numClasses: 3 };

Deno.test("a replica that cannot start is a one-line RunError", async () => {
  const config = tinyConfig();
  await assert.rejects(
    ReplicaPool.start(1, { kind: "init", config, backend: "tensorflow-gpu", shape: SHAPE }),
    (e) =>
      e instanceof RunError && /^replica 1 \(starting\) failed: .*tensorflow-gpu/.test(e.message) &&
      !e.message.includes("\n"),
  );
});

Deno.test("a micro-batch that throws in a replica names the replica, the step and the micro-batch", async () => {
  const config = tinyConfig();
  const pool = await ReplicaPool.start(1, { kind: "init", config, backend: "wasm", shape: SHAPE });
  try {
    await useWasm();
    const model = new VisionTransformer(vitShapeFromConfig(config), 0);
    const weights = model.params.list().map((p) => p.variable.dataSync() as Float32Array);
    model.dispose();
    // Labels for 4 images but pixels for none: the replica's tensors cannot be built.
    const part = { pixels: new Float32Array(0), labels: new Int32Array(4), targets: null };
    await assert.rejects(
      pool.compute({ epoch: 0, globalStep: 6 }, weights, [[{ m: 2, part, weight: 0.5 }]]),
      (e) => e instanceof RunError && /^replica 1, step 7, micro-batch 3 failed: /.test(e.message),
    );
  } finally {
    pool.close();
  }
});
