/**
 * model.init_from: a run's weights start another run unchanged; a timm-layout file of another
 * shape is adapted as timm does, each adaptation said; what cannot be loaded is an error naming
 * every tensor; env.json and compare record the source; a resume never reads it again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { readRun } from "../lib/compare/read_run.ts";
import { differingKeys } from "../lib/compare/diff_keys.ts";
import { loadConfig } from "../lib/config/load.ts";
import { CheckpointError, ConfigError } from "../lib/errors.ts";
import { EVAL } from "../lib/model/context.ts";
import { toTimmLayout } from "../lib/model/params.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { loadCheckpoint, modelTensors } from "../lib/runs/checkpoint.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { initFromCheckpoint } from "../lib/runs/init_from.ts";
import { prepareTraining } from "../lib/runs/open_run.ts";
import { RUN_FILES } from "../lib/runs/run_dir.ts";
import { type NamedArray, writeSafetensors } from "../lib/runs/safetensors.ts";
import { tempDir, tinyConfig, useWasm, vitlab } from "./_helpers.ts";

await useWasm();

async function logits(model: VisionTransformer, seed = 5): Promise<number[]> {
  const s = model.shape;
  const x = tf.randomNormal([3, s.imageSize, s.imageSize, s.channels], 0, 1, "float32", seed) as tf.Tensor4D;
  const out = tf.tidy(() => model.apply(x, EVAL));
  const values = Array.from(await out.data());
  tf.dispose([x, out]);
  return values;
}

async function timmValues(model: VisionTransformer, name: string): Promise<number[]> {
  const p = model.params.param(name);
  return Array.from(toTimmLayout(p, (await p.variable.data()) as Float32Array));
}

Deno.test("a run's checkpoint as init_from: before any step the new run's logits are the source's, bit for bit", async () => {
  const runs = tempDir();
  const source = await runExperiment(tinyConfig(["train.epochs=1"]), { runsDir: runs });
  const trained = new VisionTransformer(vitShapeFromConfig(tinyConfig()), 99);
  loadCheckpoint(join(source.runDir, RUN_FILES.best), trained);
  // Another seed: without init_from its weights would differ everywhere.
  const config = tinyConfig([`model.init_from=${source.runDir}`, "train.seed=7", "train.ema_decay=0.9"]);
  const parts = await prepareTraining(config, undefined, undefined, true);
  try {
    assert.deepEqual(await logits(parts.model), await logits(trained));
    assert.equal(parts.init!.file, join(source.runDir, RUN_FILES.best));
    assert.deepEqual(parts.init!.messages, [], "same shape: nothing adapted");
    assert.equal(parts.init!.loaded, parts.model.params.list().length);
    // The moving average starts from the loaded weights, not the seeded ones.
    const ema = parts.trainer.ema!.shadow.get("head.weight")!;
    assert.deepEqual(Array.from(await ema.data()), Array.from(await parts.model.params.get("head.weight").data()));
  } finally {
    parts.dispose();
    trained.dispose();
  }
  // A resume prepares without it: the seeded weights, to be replaced by the state's.
  const resumed = await prepareTraining(config, undefined, undefined, false);
  assert.equal(resumed.init, null);
  resumed.dispose();
});

Deno.test("init_from in a run: env.json holds the file's sha256, compare shows the key, a rerun checks the hash, a resume never reads it", async () => {
  const runs = tempDir();
  const source = await runExperiment(tinyConfig(["train.epochs=1"]), { runsDir: runs });
  const file = join(tempDir(), "copy.safetensors");
  Deno.copyFileSync(join(source.runDir, RUN_FILES.best), file);
  const starts: unknown[] = [];
  const tuned = await runExperiment(tinyConfig([`model.init_from=${file}`, "train.epochs=1"]), {
    runsDir: runs,
    events: { onStart: (info) => starts.push(info.init) },
  });
  const env = JSON.parse(Deno.readTextFileSync(join(tuned.runDir, RUN_FILES.env)));
  const bytes = Deno.readFileSync(file);
  const sha = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.deepEqual(env.init_from, { source: file, file, sha256: sha });
  assert.equal((starts[0] as { sha256: string }).sha256, sha);
  assert.equal(JSON.parse(Deno.readTextFileSync(join(source.runDir, RUN_FILES.env))).init_from, undefined);
  const keys = differingKeys([readRun(source.runDir).config, readRun(tuned.runDir).config]);
  assert.ok(keys.includes("model.init_from"), keys.join());
  // A rerun from a file that has since changed says so.
  Deno.copyFileSync(join(tuned.runDir, RUN_FILES.best), file);
  const warnings: string[] = [];
  await runExperiment(loadConfig(join(tuned.runDir, RUN_FILES.config)), {
    runsDir: runs,
    rerunOf: tuned.runDir,
    events: { onWarning: (m) => warnings.push(m) },
  });
  assert.ok(
    warnings.some((w) => /model\.init_from .* is not the file .* started from \(sha256/.test(w)),
    warnings.join("\n"),
  );
  // The file is gone: a resume that read it would fail.
  Deno.removeSync(file);
  const startsAgain: unknown[] = [];
  const { summary } = await resumeExperiment(tuned.runDir, {
    overrides: ["train.epochs=2"],
    events: { onStart: (info) => startsAgain.push(info.init) },
  });
  assert.equal(summary.status, "completed");
  assert.equal(summary.epochs_completed, 2);
  assert.deepEqual(startsAgain, [null]);
});

/**
 * A timm-layout file as `safetensors.torch.save_file(model.state_dict())` writes one for a
 * cls-pooled, distilled ViT on 3-channel 24×24 images with 8-pixel patches (a 3×3 grid) and 5
 * classes: the model below is 1-channel 8×8, 4-pixel patches (2×2), 3 classes, mean pooling.
 */
async function timmFile(): Promise<{ path: string; source: VisionTransformer }> {
  const base = tinyConfig();
  const source = new VisionTransformer(
    { ...vitShapeFromConfig(base), imageSize: 24, patchSize: 8, channels: 3, numClasses: 5, pool: "cls" },
    11,
  );
  const tensors: NamedArray[] = await modelTensors(source);
  const d = base.model.d_model;
  tensors.push({ name: "head_dist.weight", shape: [5, d], data: new Float32Array(5 * d).fill(0.5) });
  tensors.push({ name: "head_dist.bias", shape: [5], data: new Float32Array(5) });
  const path = join(tempDir(), "vit_timm.safetensors");
  writeSafetensors(path, tensors, { format: "pt" });
  return { path, source };
}

Deno.test("a timm-layout file of another shape with extra keys: strict names every misfit, non-strict adapts and says so", async () => {
  const { path, source } = await timmFile();
  const model = new VisionTransformer(vitShapeFromConfig(tinyConfig(["model.pool=mean"])), 0);
  const before = await logits(model);
  assert.throws(() => initFromCheckpoint(model, path), (err: Error) => {
    assert.ok(err instanceof CheckpointError);
    assert.match(err.message, /missing fc_norm\.weight \[16\], fc_norm\.bias \[16\]/);
    assert.match(err.message, /unexpected head_dist\.bias \[5\], head_dist\.weight \[5, 16\], norm\.bias \[16\]/);
    assert.match(err.message, /the file's model used cls pooling: model\.pool=cls/);
    assert.match(err.message, /model\.init_strict=false/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  assert.deepEqual(await logits(model), before, "a failed load leaves the model unchanged");
  const headBefore = await timmValues(model, "head.weight");
  const fcNormBefore = await timmValues(model, "fc_norm.weight");
  const report = initFromCheckpoint(model, path, { strict: false });
  const lines = report.messages;
  assert.equal(lines.length, 6, lines.join("\n"));
  assert.match(
    lines[0]!,
    /^head\.weight, head\.bias: the file's head has 5 classes, the model's 3; head freshly initialised$/,
  );
  assert.match(lines[1]!, /^patch_embed\.proj\.weight: 3 input channel\(s\) to 1, summed over channels/);
  assert.match(lines[2]!, /^patch_embed\.proj\.weight: 8×8 patches to 4×4, pseudo-inverse resize/);
  assert.match(lines[3]!, /^pos_embed: resampled from a 3×3 grid to 2×2, bicubic as timm's resample_abs_pos_embed/);
  assert.match(lines[4]!, /^fc_norm\.weight, fc_norm\.bias: not in the file; freshly initialised/);
  assert.match(
    lines[5]!,
    /^head_dist\.bias, head_dist\.weight, norm\.bias, norm\.weight: not used by the model; dropped/,
  );
  // Loaded tensors are the file's; the ones it could not give keep the model's own initialisation.
  for (const name of ["blocks.0.attn.qkv.weight", "blocks.1.mlp.fc2.bias", "cls_token", "patch_embed.proj.bias"]) {
    assert.deepEqual(await timmValues(model, name), await timmValues(source, name), name);
  }
  assert.deepEqual(await timmValues(model, "head.weight"), headBefore);
  assert.deepEqual(await timmValues(model, "fc_norm.weight"), fcNormBefore);
  assert.equal(report.loaded, model.params.list().length - 4);
  model.dispose();
  source.dispose();
});

Deno.test("pos_embed to a new grid is resampled; the class token's row is kept", async () => {
  const { path, source } = await timmFile();
  // 16×16 images with 4-pixel patches: a 4×4 grid from the file's 3×3 (24 pixels, 8-pixel patches).
  const model = new VisionTransformer(
    vitShapeFromConfig(tinyConfig(["data.image_size=16", "data.channels=3", "data.mean=[0,0,0]", "data.std=[1,1,1]"])),
    0,
  );
  const report = initFromCheckpoint(model, path, { strict: false });
  assert.ok(
    report.messages.some((l) => /^pos_embed: resampled from a 3×3 grid to 4×4/.test(l)),
    report.messages.join("\n"),
  );
  assert.ok(!report.messages.some((l) => /input channel/.test(l)), "3 channels to 3: nothing to adapt");
  const pos = await timmValues(model, "pos_embed");
  const d = model.shape.dModel;
  assert.equal(pos.length, (1 + 16) * d);
  assert.deepEqual(pos.slice(0, d), (await timmValues(source, "pos_embed")).slice(0, d));
  model.dispose();
  source.dispose();
});

Deno.test("init_from errors: a missing path and a folder without a checkpoint are config errors; a file of another width names both shapes", async () => {
  const model = new VisionTransformer(vitShapeFromConfig(tinyConfig()), 0);
  assert.throws(() => initFromCheckpoint(model, "/no/such/run"), (err: Error) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /model\.init_from: '\/no\/such\/run': no such file/);
    return true;
  });
  assert.throws(() => initFromCheckpoint(model, tempDir()), /without checkpoints\/best\.safetensors/);
  const wide = new VisionTransformer(vitShapeFromConfig(tinyConfig(["model.d_model=32"])), 0);
  const path = join(tempDir(), "wide.safetensors");
  writeSafetensors(path, await modelTensors(wide));
  assert.throws(() => initFromCheckpoint(model, path, { strict: false }), (err: Error) => {
    assert.ok(err instanceof CheckpointError);
    assert.match(
      err.message,
      /mis-shaped .*blocks\.0\.attn\.qkv\.weight \[96, 32\] in the file, \[48, 16\] in the model/,
    );
    return true;
  });
  // Through a run: the error comes before any run directory is made.
  const runs = tempDir();
  await assert.rejects(
    () => runExperiment(tinyConfig([`model.init_from=${path}`]), { runsDir: runs }),
    CheckpointError,
  );
  assert.deepEqual([...Deno.readDirSync(runs)], []);
  model.dispose();
  wide.dispose();
});

Deno.test("the CLI prints where the weights came from and each adaptation on stderr; stdout is the run directory", async () => {
  const { path, source } = await timmFile();
  source.dispose();
  const dir = tempDir();
  // tinyConfig's model (the file's width and depth), mean-pooled, on 8×8 single-channel images.
  const config = join(dir, "tuned.yaml");
  Deno.writeTextFileSync(
    config,
    [
      "model: {patch_size: 4, d_model: 16, depth: 2, heads: 2, mlp_ratio: 2, pool: mean}",
      "data: {dataset: synthetic, image_size: 8, num_classes: 3, synthetic_size: 96}",
      "train: {epochs: 1, batch_size: 16, warmup_epochs: 0}",
      "run: {backend: wasm}",
    ].join("\n") + "\n",
  );
  const runs = join(dir, "runs");
  const out = await vitlab(
    "exp",
    config,
    "--runs-dir",
    runs,
    "--set",
    `model.init_from=${path}`,
    "--set",
    "model.init_strict=false",
  );
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stderr, /^weights from .*vit_timm\.safetensors \(sha256 [0-9a-f]{12}…\): \d+ tensors loaded$/m);
  const lines = out.stderr.split("\n").filter((l) => /^ {2}(head|pos_embed|patch_embed|fc_norm|head_dist)/.test(l));
  assert.equal(lines.length, 6, out.stderr);
  assert.equal(out.stdout.trim().split("\n").length, 1);
  assert.ok(out.stdout.trim().startsWith(runs));
});
