/**
 * What timm needs to load a run's checkpoints: the arguments follow every config key that shapes
 * timm's model, every run records them, and `timm-args` prints them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configFromObject } from "../lib/config/load.ts";
import { timmArgs } from "../lib/model/timm_args.ts";
import { CLI, PROJECT_ROOT, tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

Deno.test("timm arguments: pooling, qkv bias, channels and classes follow the config", () => {
  const cls = timmArgs(configFromObject({ model: { pool: "cls" } }));
  assert.deepEqual(cls, {
    img_size: 28,
    patch_size: 7,
    in_chans: 1,
    num_classes: 10,
    global_pool: "token",
    embed_dim: 64,
    depth: 6,
    num_heads: 4,
    mlp_ratio: 2,
    qkv_bias: true,
  });
  const mean = timmArgs(configFromObject({
    model: { pool: "mean", qkv_bias: false, d_model: 48, heads: 3, patch_size: 4 },
    data: { dataset: "synthetic", image_size: 12, channels: 3, num_classes: 5 },
  }));
  assert.equal(mean.global_pool, "avg");
  assert.equal(mean.qkv_bias, false);
  assert.deepEqual([mean.img_size, mean.patch_size, mean.in_chans, mean.num_classes], [12, 4, 3, 5]);
  assert.deepEqual([mean.embed_dim, mean.num_heads], [48, 3]);
});

Deno.test("timm's MLP width int(embed_dim * mlp_ratio) equals vitlab's rounded width for any ratio", () => {
  for (const d of [16, 24, 64, 100]) {
    for (const ratio of [1, 1.5, 2, 2.7, 3.3, 4, 0.33]) {
      const args = timmArgs(configFromObject({ model: { d_model: d, heads: 4, mlp_ratio: ratio, patch_size: 7 } }));
      assert.equal(Math.trunc(args.embed_dim * args.mlp_ratio), Math.round(d * ratio), `d_model ${d}, ratio ${ratio}`);
    }
  }
});

Deno.test("a run's summary.json holds its timm arguments, and timm-args prints them as JSON or Python", async () => {
  const dir = tempDir();
  const cfg = writeTinyConfig(dir);
  const r = await vitlab(
    "exp",
    cfg,
    "--runs-dir",
    join(dir, "runs"),
    "--set",
    "train.epochs=1",
    "--set",
    "model.pool=mean",
  );
  assert.equal(r.code, 0, r.stderr);
  const runDir = r.stdout.trim();
  const summary = JSON.parse(Deno.readTextFileSync(join(runDir, "summary.json")));
  assert.equal(summary.timm.global_pool, "avg");
  assert.equal(summary.timm.in_chans, 1);
  assert.equal(summary.timm.num_classes, 3);
  const json = await vitlab("timm-args", runDir);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), summary.timm);
  const py = await vitlab("timm-args", runDir, "--python");
  assert.match(py.stdout, /^timm\.models\.VisionTransformer\(img_size=8, .*global_pool="avg", .*qkv_bias=True\)\n$/);
  const missing = await vitlab("timm-args", join(dir, "none"));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /none.*cannot read config file/);
});

Deno.test("auto without OpenBLAS takes wasm and says how much faster blas would be, and how to install it", async () => {
  const dir = tempDir();
  const cfg = writeTinyConfig(dir);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...CLI, "exp", cfg, "--runs-dir", join(dir, "runs"), "--set", "train.epochs=1", "--backend", "auto"],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", VITLAB_OPENBLAS: join(dir, "libopenblas.so.0") },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.match(stderr, /^backend (wasm|webgpu|tensorflow-gpu): /m);
  if (/^backend wasm/m.test(stderr)) {
    assert.match(stderr, /blas: OpenBLAS is not installed \(.*libopenblas\.so\.0: cannot open/);
    assert.match(
      stderr,
      /faster: blas would train about \d+(\.\d)?× faster than wasm .*: sudo apt-get install libopenblas0-pthread/,
    );
  }
});
