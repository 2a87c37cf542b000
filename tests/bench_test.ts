/** `bench`: throughput fields agree with each other; blas reports its products' own time. */
import assert from "node:assert/strict";
import { openBlas } from "../lib/backend/blas.ts";
import { benchTraining } from "../lib/bench/bench.ts";
import { trainGflopPerImage } from "../lib/bench/flops.ts";
import { vitShapeFromConfig } from "../lib/model/vit.ts";
import { tempDir, tinyConfig, vitlab, writeTinyConfig } from "./_helpers.ts";

// CI installs OpenBLAS; elsewhere its absence only narrows the test to wasm.
let haveBlas = true;
try {
  openBlas();
} catch {
  haveBlas = Deno.env.get("CI") === "true";
}

Deno.test("benchTraining's numbers are consistent, and only blas times its products alone", async () => {
  const config = tinyConfig(["model.d_model=32", "train.batch_size=8"]);
  for (const backend of haveBlas ? ["wasm", "blas"] as const : ["wasm"] as const) {
    const r = await benchTraining(config, { backend, steps: 3, warmup: 1 });
    assert.equal(r.backend, backend);
    assert.equal(r.steps, 3);
    assert.equal(r.batch, 8);
    assert.ok(Math.abs(r.images_per_second - 8000 / r.ms_per_step) <= 0.1 + 1e-3 * r.images_per_second);
    const gflop = trainGflopPerImage(vitShapeFromConfig(config));
    assert.ok(Math.abs(r.achieved_gflops - gflop * r.images_per_second) <= 0.01 + 1e-2 * r.achieved_gflops);
    if (backend === "blas") {
      assert.ok(r.products_ms_per_step! > 0, "products timed");
      assert.ok(r.products_gflops! > 0);
      // The products alone cannot take longer than the step that contains them, give or take noise.
      assert.ok(r.products_ms_per_step! < r.ms_per_step * 1.5, `${r.products_ms_per_step} vs ${r.ms_per_step}`);
    } else {
      assert.equal(r.products_ms_per_step, undefined);
    }
  }
});

Deno.test("bench prints one JSON line per backend with the throughput fields", async () => {
  const config = writeTinyConfig(tempDir());
  const r = await vitlab("bench", config, "--backend", "wasm", "--backend", "cpu", "--steps", "2", "--warmup", "1");
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.backend), ["wasm", "cpu"]);
  for (const l of lines) {
    for (const key of ["ms_per_step", "images_per_second", "achieved_gflops", "data_ms_per_batch"]) {
      assert.ok(typeof l[key] === "number" && l[key] > 0, `${key} in ${JSON.stringify(l)}`);
    }
  }
  const bad = await vitlab("bench", config, "--steps", "0");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--steps: expected an integer ≥ 1, got '0'/);
});
