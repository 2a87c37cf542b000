/**
 * Replicas: one that fails ends the step with one line naming the replica and the micro-batch,
 * never a hang; evaluation shared with replicas gives the bytes this thread alone gives.
 */
import assert from "node:assert/strict";
import { RunError } from "../lib/errors.ts";
import { ReplicaPool } from "../lib/train/replicas.ts";
import { evaluate } from "../lib/train/evaluate.ts";
import { loadTrainVal } from "../lib/data/splits.ts";
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
    const floats = weights.reduce((n, w) => n + w.length, 0);
    model.dispose();
    const sync = { weights, step: 6, slots: [] };
    // Labels for 4 images but pixels for none: the replica's tensors cannot be built.
    const part = { pixels: new Float32Array(0), labels: new Int32Array(4), targets: null };
    const step = { epoch: 0, globalStep: 6, lr: 1e-3, optStep: 6, total: 4, sync };
    await assert.rejects(
      pool.compute(step, [[{ m: 2, part, weight: 0.5 }]], floats).results,
      (e) => e instanceof RunError && /^replica 1, step 7, micro-batch 3 failed: /.test(e.message),
    );
    // A step whose copy is not the trainer's (no state sent, another optimizer step) is refused.
    const good = { pixels: new Float32Array(4 * 64), labels: new Int32Array(4), targets: null };
    await assert.rejects(
      pool.compute(
        { epoch: 0, globalStep: 6, lr: 1e-3, optStep: 9, total: 4 },
        [[{ m: 2, part: good, weight: 0.5 }]],
        floats,
      )
        .results,
      (e) => e instanceof RunError && /step 7 failed: its copy of the model is not the trainer's/.test(e.message),
    );
  } finally {
    pool.close();
  }
});

Deno.test("evaluation shared with 1 or 2 replicas gives this thread's loss, accuracy and logits, bit for bit", async () => {
  const config = tinyConfig();
  await useWasm();
  const { train } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), 3);
  const norm = { mean: config.data.mean, std: config.data.std };
  // 7 a batch: several batches and a short last one, split unevenly between the replicas.
  const alone = await evaluate(model, train, norm, 7, { logits: true });
  assert.ok(alone.count > 7 * 4 && alone.count % 7 !== 0);
  for (const workers of [1, 2]) {
    const pool = await ReplicaPool.start(workers, { kind: "init", config, backend: "wasm", shape: SHAPE });
    try {
      const shared = await evaluate(model, train, norm, 7, { logits: true, replicas: pool });
      assert.equal(shared.count, alone.count);
      assert.equal(shared.loss, alone.loss, `${workers} worker(s): loss`);
      assert.equal(shared.acc, alone.acc, `${workers} worker(s): accuracy`);
      assert.deepEqual(new Uint8Array(shared.logits!.buffer), new Uint8Array(alone.logits!.buffer));
      // The replicas evaluate with the weights they are sent, not the ones they held before.
      const other = new VisionTransformer(vitShapeFromConfig(config), 4);
      const a = await evaluate(other, train, norm, 7);
      const b = await evaluate(other, train, norm, 7, { replicas: pool });
      assert.equal(b.loss, a.loss);
      assert.notEqual(b.loss, alone.loss);
      other.dispose();
    } finally {
      pool.close();
    }
  }
  model.dispose();
});
