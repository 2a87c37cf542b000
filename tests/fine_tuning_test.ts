/**
 * The training choices that go with init_from: layer-wise lr decay (timm's table, applied per
 * tensor by the optimizer) and train.freeze (frozen tensors byte-identical after training, with
 * no optimizer state).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { configToYaml } from "../lib/config/dump.ts";
import { configHash } from "../lib/config/hash.ts";
import { configFromObject } from "../lib/config/load.ts";
import { ConfigError } from "../lib/errors.ts";
import { toTimmLayout } from "../lib/model/params.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { runExperiment } from "../lib/runs/experiment.ts";
import { RUN_FILES } from "../lib/runs/run_dir.ts";
import { readSafetensors } from "../lib/runs/safetensors.ts";
import { layerDecayScales } from "../lib/train/layer_decay.ts";
import { VitOptimizer } from "../lib/train/optimizer.ts";
import { tempDir, tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

function depth3(pool: "cls" | "mean"): VisionTransformer {
  return new VisionTransformer(vitShapeFromConfig(tinyConfig(["model.depth=3", `model.pool=${pool}`])), 0);
}

Deno.test("layer decay: the lr multipliers of a depth-3 ViT are timm's (param_groups_layer_decay)", () => {
  // timm's layer ids: stem 0, blocks.i i + 1, norm with the last block, the rest (fc_norm, head)
  // 4 = depth + 1; multiplier 0.5^(4 − id).
  const table: Record<string, number> = {
    "cls_token": 0.0625,
    "pos_embed": 0.0625,
    "patch_embed.": 0.0625,
    "blocks.0.": 0.125,
    "blocks.1.": 0.25,
    "blocks.2.": 0.5,
    "norm.": 0.5,
    "fc_norm.": 1,
    "head.": 1,
  };
  for (const pool of ["cls", "mean"] as const) {
    const model = depth3(pool);
    const names = model.params.list().map((p) => p.name);
    const scales = layerDecayScales(names, 3, 0.5);
    assert.equal(scales.size, names.length);
    for (const name of names) {
      const prefix = Object.keys(table).find((k) => name.startsWith(k))!;
      assert.equal(scales.get(name), table[prefix], `${pool}: ${name}`);
    }
    assert.ok(names.includes(pool === "cls" ? "norm.weight" : "fc_norm.weight"));
    assert.ok([...layerDecayScales(names, 3, 1).values()].every((s) => s === 1), "1.0 is off");
    model.dispose();
  }
});

Deno.test("layer decay: the optimizer scales each tensor's step (and AdamW's decay) by its multiplier", async () => {
  const model = depth3("cls");
  const params = model.params.list();
  const scales = layerDecayScales(params.map((p) => p.name), 3, 0.5);
  const before = await Promise.all(params.map(async (p) => Array.from(await p.variable.data())));
  const sgd = new VitOptimizer({
    kind: "sgd",
    lr: 0.1,
    weightDecay: 0,
    betas: [0.9, 0.999],
    eps: 1e-8,
    momentum: 0,
    lrScales: scales,
  });
  const grads = params.map((p) => tf.onesLike(p.variable));
  sgd.applyGradients(params, grads);
  for (const [i, p] of params.entries()) {
    const after = Array.from(await p.variable.data());
    const step = Math.fround(0.1 * scales.get(p.name)!);
    assert.ok(after.every((v, j) => Math.abs(before[i]![j]! - v - step) < 1e-6), p.name);
  }
  tf.dispose(grads);
  sgd.dispose();
  // AdamW with zero gradients moves a decayed tensor only by its decay: p ← p·(1 − lr·scale·wd).
  const adamw = new VitOptimizer({ ...sgd.options, kind: "adamw", weightDecay: 0.5 });
  const mid = await Promise.all(params.map(async (p) => Array.from(await p.variable.data())));
  const zeros = params.map((p) => tf.zerosLike(p.variable));
  adamw.applyGradients(params, zeros);
  for (const [i, p] of params.entries()) {
    const after = Array.from(await p.variable.data());
    const factor = p.decay ? 1 - 0.1 * scales.get(p.name)! * 0.5 : 1;
    assert.ok(after.every((v, j) => Math.abs(v - mid[i]![j]! * factor) < 1e-6), p.name);
  }
  tf.dispose(zeros);
  adamw.dispose();
  model.dispose();
});

/** Every tensor of a checkpoint, as bytes, by name. */
function tensorsOf(path: string): Map<string, string> {
  const { tensors } = readSafetensors(path);
  return new Map([...tensors].map(([name, t]) => [name, new Uint8Array(t.data.buffer).join()]));
}

Deno.test("train.freeze=backbone from init_from: frozen tensors byte-identical to the source, no optimizer state for them", async () => {
  const runs = tempDir();
  const source = await runExperiment(tinyConfig(["train.epochs=1", "model.pool=mean"]), { runsDir: runs });
  const start = tensorsOf(join(source.runDir, RUN_FILES.best));
  // Micro-batches on two replicas and a moving average: every path a gradient or an update takes.
  const probe = await runExperiment(
    tinyConfig([
      "model.pool=mean",
      `model.init_from=${source.runDir}`,
      "train.freeze=backbone",
      "train.layer_decay=0.75",
      "train.ema_decay=0.9",
      "train.micro_batch=8",
      "run.workers=2",
    ]),
    { runsDir: runs },
  );
  assert.equal(probe.summary.status, "completed");
  for (const file of [RUN_FILES.last, RUN_FILES.ema]) {
    const after = tensorsOf(join(probe.runDir, file));
    for (const [name, bytes] of start) {
      const trains = /^(head|fc_norm)\./.test(name);
      if (trains) assert.notEqual(after.get(name), bytes, `${file}: ${name} should have trained`);
      else assert.equal(after.get(name), bytes, `${file}: ${name} should be frozen`);
    }
  }
  const state = [...readSafetensors(join(probe.runDir, RUN_FILES.state)).tensors.keys()];
  const slots = state.filter((k) => k.startsWith("optimizer.")).map((k) => k.replace(/^optimizer\.|\.\d+$/g, ""));
  assert.deepEqual([...new Set(slots)].sort(), ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]);
});

Deno.test("train.freeze as prefixes freezes exactly those tensors; a prefix that names nothing is a config error", async () => {
  const runs = tempDir();
  const config = tinyConfig(["train.epochs=1", "train.freeze=[patch_embed, blocks.0.]"]);
  const seeded = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  const { runDir } = await runExperiment(config, { runsDir: runs });
  const after = tensorsOf(join(runDir, RUN_FILES.last));
  for (const p of seeded.params.list()) {
    const frozen = p.name.startsWith("patch_embed") || p.name.startsWith("blocks.0.");
    const data = toTimmLayout(p, (await p.variable.data()) as Float32Array);
    const same = after.get(p.name) === new Uint8Array(data.buffer, data.byteOffset, data.byteLength).join();
    assert.equal(same, frozen, `${p.name} ${frozen ? "should be frozen" : "should have trained"}`);
  }
  seeded.dispose();
  const empty = tempDir();
  await assert.rejects(
    () => runExperiment(tinyConfig(["train.freeze=[blokcs.0.]"]), { runsDir: empty }),
    (err: Error) =>
      err instanceof ConfigError && /train\.freeze: prefix 'blokcs\.0\.' names no parameter/.test(err.message),
  );
  assert.deepEqual([...Deno.readDirSync(empty)], []);
});

Deno.test("the fine-tuning keys at their defaults leave hashes and config.yaml as before they existed", () => {
  const config = configFromObject({});
  const old = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const key of ["init_from", "init_strict"]) delete old.model![key];
  for (const key of ["layer_decay", "freeze"]) delete old.train![key];
  assert.equal(configHash(config), configHash(old));
  assert.doesNotMatch(configToYaml(config), /init_from|init_strict|layer_decay|freeze/);
  const used = configFromObject({
    model: { init_from: "runs/x" },
    train: { freeze: ["blocks.0."], layer_decay: 0.75 },
  });
  assert.notEqual(configHash(used), configHash(config));
  assert.match(configToYaml(used), /init_from: runs\/x/);
  assert.deepEqual(configFromObject({}, ["train.freeze=[patch_embed, blocks.0.]"]).train.freeze, [
    "patch_embed",
    "blocks.0.",
  ]);
  assert.equal(configFromObject({}, ["train.freeze=backbone"]).train.freeze, "backbone");
  assert.throws(
    () => configFromObject({}, ["train.freeze=head"]),
    /--set train\.freeze=head: train\.freeze: expected one of none, backbone, or a list of non-empty strings, got 'head'/,
  );
  assert.throws(
    () => configFromObject({}, ["train.layer_decay=0"]),
    /train\.layer_decay: expected a number > 0 and ≤ 1/,
  );
});
