import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/backend/backend.ts";
import type { Config } from "../lib/config/schema.ts";
import { CheckpointError, ConfigError, DivergedError, InterruptedError, UsageError } from "../lib/errors.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { createRunDir } from "../lib/runs/run_dir.ts";
import { readSafetensors } from "../lib/runs/safetensors.ts";
import { loadConfig } from "../lib/config/load.ts";
import * as tf from "@tensorflow/tfjs-core";
import { loadTrainVal } from "../lib/data/splits.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { Trainer } from "../lib/train/trainer.ts";
import { readSummary } from "../lib/runs/summary.ts";
import { DIVERGING, tempDir, tinyConfig } from "./_helpers.ts";

/** metrics.csv without the two timing columns, which differ from run to run by nature. */
function metricsWithoutTiming(runDir: string): string {
  return Deno.readTextFileSync(join(runDir, "metrics.csv")).split("\n").map((l) => l.split(",").slice(0, 7).join(","))
    .join("\n");
}

function assertSameRun(a: string, b: string): void {
  assert.equal(metricsWithoutTiming(b), metricsWithoutTiming(a));
  for (const f of ["last", "best"]) {
    const x = Deno.readFileSync(join(a, "checkpoints", `${f}.safetensors`));
    const y = Deno.readFileSync(join(b, "checkpoints", `${f}.safetensors`));
    assert.ok(x.length === y.length && x.every((v, i) => v === y[i]), `${f}.safetensors differs`);
  }
}

/** Aborts the run once `step` global steps are done. */
function abortAfter(step: number): { signal: AbortSignal; onStep: (e: { globalStep: number }) => void } {
  const c = new AbortController();
  return { signal: c.signal, onStep: (e) => e.globalStep === step && c.abort("SIGINT") };
}

for (const backend of ["wasm", "cpu", "blas"] as const) {
  Deno.test(`two runs of one config on ${backend} are identical byte for byte (timing columns aside)`, async () => {
    await initBackend(backend);
    const config = tinyConfig([`run.backend=${backend}`, "model.dropout=0.1", "model.drop_path=0.2"]);
    const dir = tempDir();
    const a = await runExperiment(config, { runsDir: join(dir, "a") });
    const b = await runExperiment(config, { runsDir: join(dir, "b") });
    assertSameRun(a.runDir, b.runDir);
    const other = await runExperiment(tinyConfig([`run.backend=${backend}`, "train.seed=1"]), {
      runsDir: join(dir, "c"),
    });
    assert.notEqual(metricsWithoutTiming(other.runDir), metricsWithoutTiming(a.runDir));
  });
}

Deno.test("interrupted mid-epoch or at an epoch boundary, resumed: identical to an uninterrupted run", async () => {
  await initBackend("wasm");
  const config: Config = tinyConfig(["train.epochs=3", "model.dropout=0.1", "model.drop_path=0.1"]);
  const dir = tempDir();
  const full = await runExperiment(config, { runsDir: join(dir, "full") });
  const stepsPerEpoch = Math.floor(Math.round(96 * 0.9) / 16);
  for (const stopAt of [stepsPerEpoch + 2, stepsPerEpoch * 2]) {
    const { signal, onStep } = abortAfter(stopAt);
    const err = await runExperiment(config, { runsDir: join(dir, `cut${stopAt}`), signal, events: { onStep } }).catch((
      e,
    ) => e);
    assert.ok(err instanceof InterruptedError, String(err));
    assert.equal(err.exitCode, 130);
    assert.match(err.message, /resume with: deno task exp --resume /);
    assert.equal(readSummary(join(err.runDir, "summary.json")).status, "interrupted");
    const resumed = await resumeExperiment(err.runDir);
    assert.equal(resumed.summary.status, "completed");
    assert.equal(resumed.summary.resumes.length, 1);
    assertSameRun(full.runDir, resumed.runDir);
  }
});

Deno.test("resume with more epochs appends rows and keeps earlier ones byte for byte", async () => {
  await initBackend("wasm");
  const dir = tempDir();
  const first = await runExperiment(tinyConfig(["train.epochs=2"]), { runsDir: dir });
  const before = Deno.readTextFileSync(join(first.runDir, "metrics.csv"));
  await assert.rejects(resumeExperiment(first.runDir), UsageError);
  const more = await resumeExperiment(first.runDir, { overrides: ["train.epochs=3"] });
  const after = Deno.readTextFileSync(join(more.runDir, "metrics.csv"));
  assert.ok(after.startsWith(before));
  assert.equal(after.trim().split("\n").length, 4);
  assert.match(Deno.readTextFileSync(join(first.runDir, "config.yaml")), /epochs: 3/);
  await assert.rejects(
    resumeExperiment(first.runDir, { overrides: ["train.epochs=4", "model.depth=3"] }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /model.depth was 2, now 3/);
      return true;
    },
  );
});

Deno.test("resume refuses a missing, corrupt or foreign state and changes nothing", async () => {
  await initBackend("wasm");
  const dir = tempDir();
  const { runDir } = await runExperiment(tinyConfig(["train.epochs=1"]), { runsDir: dir });
  const state = join(runDir, "checkpoints/state.safetensors");
  const good = Deno.readFileSync(state);
  Deno.writeFileSync(state, good.subarray(0, 50));
  await assert.rejects(resumeExperiment(runDir, { overrides: ["train.epochs=2"] }), CheckpointError);
  assert.equal(Deno.readFileSync(state).length, 50);
  Deno.removeSync(state);
  await assert.rejects(resumeExperiment(runDir, { overrides: ["train.epochs=2"] }), /no training state/);
  Deno.writeFileSync(state, good);
  const cfg = join(runDir, "config.yaml");
  Deno.writeTextFileSync(cfg, Deno.readTextFileSync(cfg).replace("lr: 0.003", "lr: 0.004"));
  await assert.rejects(resumeExperiment(runDir, { overrides: ["train.epochs=2"] }), /written by another config/);
  await assert.rejects(resumeExperiment(join(dir, "nope")), /not a run directory/);
});

Deno.test("a diverging run stops with status diverged; its checkpoints are those of the last good epoch", async () => {
  await initBackend("wasm");
  const dir = tempDir();
  const config = loadConfig(new URL("../configs/vit-tiny.yaml", import.meta.url).pathname, {
    overrides: [...DIVERGING],
  });
  const err = await runExperiment(config, { runsDir: dir }).catch((e) => e);
  assert.ok(err instanceof DivergedError, String(err));
  assert.match(err.message, /training diverged at epoch \d+, step \d+: the (loss|gradient norm) is (NaN|-?Infinity)/);
  const runDir = join(dir, "vit-tiny", Deno.readDirSync(join(dir, "vit-tiny")).toArray()[0]!.name);
  const summary = readSummary(join(runDir, "summary.json"));
  assert.equal(summary.status, "diverged");
  assert.equal(summary.epochs_completed, err.epoch - 1);
  if (summary.epochs_completed > 0) {
    const last = readSafetensors(join(runDir, "checkpoints/last.safetensors"));
    assert.equal(last.metadata.epoch, String(summary.epochs_completed));
    assert.ok([...last.tensors.values()].every((t) => t.data.every(Number.isFinite)), "last checkpoint is finite");
  }
});

Deno.test("a non-finite step never reaches the weights", async () => {
  await initBackend("wasm");
  const config = tinyConfig(["train.epochs=2"]);
  const { train } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), 0);
  const trainer = new Trainer(config, model, train);
  await trainer.trainEpoch(0);
  const bias = model.params.get("head.bias");
  bias.assign(tf.fill(bias.shape, NaN));
  const before = await model.params.get("blocks.0.attn.qkv.weight").data();
  const err = await trainer.trainEpoch(1).catch((e) => e);
  assert.ok(err instanceof DivergedError, String(err));
  assert.equal(err.epoch, 2);
  assert.equal(err.step, trainer.stepsPerEpoch + 1);
  assert.match(err.message, /the loss is NaN/);
  assert.deepEqual(await model.params.get("blocks.0.attn.qkv.weight").data(), before);
  trainer.dispose();
  model.dispose();
});

Deno.test("run ids never collide, even for identical configs started in the same second", () => {
  const dir = tempDir();
  const now = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
  const ids = Array.from({ length: 5 }, () => createRunDir(dir, "same", "abcdef0123", now));
  assert.equal(new Set(ids).size, 5);
  assert.ok(ids[0]!.endsWith("20260102-030405-abcdef"));
  assert.ok(ids[1]!.endsWith("20260102-030405-abcdef-1"));
});
