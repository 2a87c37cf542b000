/**
 * train.micro_batch: a step's batch as micro-batches whose gradients are summed in order before
 * one update. The same maths as the whole batch (to float rounding), reproducible and resumable
 * byte for byte, and a batch that does not fit memory trains in pieces.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkTrainingMemory, estimateTrainingMemory } from "../lib/config/estimate.ts";
import { configToYaml } from "../lib/config/dump.ts";
import { configHash } from "../lib/config/hash.ts";
import { configFromObject, loadConfig } from "../lib/config/load.ts";
import { ConfigError, InterruptedError } from "../lib/errors.ts";
import { readMetrics } from "../lib/runs/metrics.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { readSafetensors } from "../lib/runs/safetensors.ts";
import { PROJECT_ROOT, tempDir, tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

const bytes = (run: string, f: string) => Deno.readFileSync(join(run, "checkpoints", f));
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
const metrics = (run: string) =>
  Deno.readTextFileSync(join(run, "metrics.csv")).split("\n").map((l) => l.split(",").slice(0, 7).join(",")).join("\n");

Deno.test("micro-batches of 4 follow the whole batch of 16: losses within 1e-5, weights within 1e-4", async () => {
  const dir = tempDir();
  const plain = ["model.dropout=0", "model.drop_path=0", "train.epochs=2"];
  const whole = await runExperiment(tinyConfig(plain), { runsDir: join(dir, "whole") });
  const micro = await runExperiment(tinyConfig([...plain, "train.micro_batch=4"]), { runsDir: join(dir, "micro") });
  const a = readMetrics(join(whole.runDir, "metrics.csv"));
  const b = readMetrics(join(micro.runDir, "metrics.csv"));
  for (const [i, row] of a.entries()) {
    for (const k of ["train_loss", "val_loss", "val_acc"] as const) {
      assert.ok(Math.abs(row[k] - b[i]![k]) <= 1e-5, `epoch ${i + 1} ${k}: ${row[k]} vs ${b[i]![k]}`);
    }
  }
  const wa = readSafetensors(join(whole.runDir, "checkpoints", "last.safetensors")).tensors;
  const wb = readSafetensors(join(micro.runDir, "checkpoints", "last.safetensors")).tensors;
  let worst = 0;
  for (const [name, t] of wa) t.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - wb.get(name)!.data[i]!))));
  assert.ok(worst <= 1e-4, `largest weight difference ${worst}`);
  assert.ok(worst > 0 || a.length === 0, "the two paths really differ in their summation order");
});

Deno.test("with micro-batches (dropout and drop-path on): reruns are byte-identical, and so is a mid-epoch resume", async () => {
  const dir = tempDir();
  const config = tinyConfig(["train.micro_batch=8", "model.dropout=0.1", "model.drop_path=0.2", "train.epochs=3"]);
  const a = await runExperiment(config, { runsDir: join(dir, "a") });
  const b = await runExperiment(config, { runsDir: join(dir, "b") });
  assert.equal(metrics(b.runDir), metrics(a.runDir));
  assert.ok(sameBytes(bytes(a.runDir, "last.safetensors"), bytes(b.runDir, "last.safetensors")));
  // Interrupted in the middle of epoch 2, then resumed.
  const stop = new AbortController();
  let runDir = "";
  await assert.rejects(
    runExperiment(config, {
      runsDir: join(dir, "c"),
      signal: stop.signal,
      events: {
        onStart: (i) => (runDir = i.runDir),
        onStep: (e) => e.globalStep === 7 && stop.abort("SIGINT"),
      },
    }),
    InterruptedError,
  );
  await resumeExperiment(runDir);
  assert.equal(metrics(runDir), metrics(a.runDir));
  assert.ok(sameBytes(bytes(a.runDir, "last.safetensors"), bytes(runDir, "last.safetensors")));
  assert.ok(sameBytes(bytes(a.runDir, "best.safetensors"), bytes(runDir, "best.safetensors")));
});

Deno.test("train.batch_size must divide by train.micro_batch", () => {
  assert.throws(
    () => configFromObject({ train: { batch_size: 128, micro_batch: 48 } }),
    (e) =>
      e instanceof ConfigError &&
      /train\.micro_batch: train\.batch_size \(128\) must divide by it, got 48/.test(e.message),
  );
  assert.equal(configFromObject({ train: { batch_size: 128, micro_batch: 32 } }).train.micro_batch, 32);
});

Deno.test("CIFAR ViT-Lite at batch 128 fits the wasm heap as 4 micro-batches of 32, not whole", () => {
  const path = join(PROJECT_ROOT, "configs", "cifar10-vit-lite.yaml");
  const shipped = loadConfig(path, { overrides: ["data.path=/data"] });
  assert.equal(shipped.train.batch_size, 128);
  assert.equal(shipped.train.micro_batch, 32);
  checkTrainingMemory(shipped, "wasm");
  const whole = loadConfig(path, { overrides: ["data.path=/data", "train.micro_batch=0"] });
  assert.throws(() => checkTrainingMemory(whole, "wasm"), /or set train\.micro_batch/);
  assert.equal(estimateTrainingMemory(whole).activationBytes, 4 * estimateTrainingMemory(shipped).activationBytes);
});

Deno.test("micro_batch at its default leaves hashes and config.yaml as they were before the key existed", () => {
  const config = configFromObject({});
  const old = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  delete old.train!.micro_batch;
  assert.equal(configHash(config), configHash(old));
  assert.doesNotMatch(configToYaml(config), /micro_batch/);
  const used = configFromObject({ train: { micro_batch: 32 } });
  assert.notEqual(configHash(used), configHash(config));
  assert.match(configToYaml(used), /micro_batch: 32/);
});
