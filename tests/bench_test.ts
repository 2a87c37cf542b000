/** `bench`: throughput fields agree with each other; blas reports its products' own time. */
import assert from "node:assert/strict";
import { openBlas } from "../lib/backend/blas.ts";
import { benchTraining, PAIRED_BLOCK } from "../lib/bench/bench.ts";
import { markdownTable } from "../cli/bench.ts";
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
    // ms_per_step is rounded to 0.01 ms and images_per_second to 0.1: on a fast machine a tiny model's
    // step is a few ms, where that rounding alone moves 8000 / ms by several images a second.
    const msRounding = 0.005 + 1e-9;
    const ipsBound = 0.05 + 8000 * msRounding / (r.ms_per_step * (r.ms_per_step - msRounding));
    assert.ok(Math.abs(r.images_per_second - 8000 / r.ms_per_step) <= ipsBound, JSON.stringify(r));
    // The split's parts add up to the step: waits, update, products alone (blas) and other kernels.
    const parts = r.batch_wait_ms_per_step + r.replica_wait_ms_per_step + r.update_ms_per_step +
      (r.products_ms_per_step ?? 0) + r.other_kernels_ms_per_step;
    assert.ok(r.other_kernels_ms_per_step > 0 && r.update_ms_per_step > 0, JSON.stringify(r));
    assert.ok(Math.abs(parts - r.ms_per_step) < 0.05 || r.other_kernels_ms_per_step === 0, JSON.stringify(r));
    const gflop = trainGflopPerImage(vitShapeFromConfig(config));
    assert.ok(Math.abs(r.achieved_gflops - gflop * r.images_per_second) <= 0.01 + 1e-2 * r.achieved_gflops);
    // Kernels are counted in one more, untimed step.
    assert.ok(r.kernels_per_step > 0, `kernels_per_step ${r.kernels_per_step}`);
    const usBound = 0.005 + (msRounding * 1000) / r.kernels_per_step + 1e-9;
    assert.ok(Math.abs(r.us_per_kernel - (r.ms_per_step * 1000) / r.kernels_per_step) <= usBound, JSON.stringify(r));
    assert.equal(r.dispatches_per_step, undefined, "GPU dispatches are webgpu's alone");
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

Deno.test("bench prints one JSON line per config and backend with the throughput fields, or one table", async () => {
  const dir = tempDir();
  const config = writeTinyConfig(dir);
  const wide = `${dir}/wide.yaml`;
  Deno.writeTextFileSync(wide, "extends: tiny.yaml\nmodel: {d_model: 32}\ntrain: {batch_size: 8}\n");
  const args = ["--backend", "wasm", "--backend", "cpu", "--steps", "2", "--warmup", "1"];
  const r = await vitlab("bench", config, wide, ...args);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.config, l.backend, l.batch]), [
    [config, "wasm", 16],
    [config, "cpu", 16],
    [wide, "wasm", 8],
    [wide, "cpu", 8],
  ]);
  for (const l of lines) {
    for (const key of ["ms_per_step", "images_per_second", "achieved_gflops", "data_ms_per_batch"]) {
      assert.ok(typeof l[key] === "number" && l[key] > 0, `${key} in ${JSON.stringify(l)}`);
    }
  }
  const md = await vitlab("bench", wide, "--backend", "wasm", "--steps", "2", "--warmup", "1", "--format", "md");
  assert.equal(md.code, 0, md.stderr);
  const rows = md.stdout.trim().split("\n");
  assert.equal(rows.length, 3);
  assert.match(rows[0]!, /^\| config \(batch\) \| backend \| ms\/step \| images\/s /);
  assert.match(rows[2]!, /^\| wide \(8\) \| wasm \| [\d.,]+ \| [\d,]+ \| /);
  const bad = await vitlab("bench", config, "--steps", "0");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--steps: expected an integer ≥ 1, got '0'/);
  const fmt = await vitlab("bench", config, "--format", "csv");
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format: expected json or md, got 'csv'/);
});

Deno.test("vsOneReplica: with replicas, the same steps on one thread in alternating blocks; without, no such fields", async () => {
  const config = tinyConfig(["model.d_model=32", "train.batch_size=8", "train.micro_batch=4", "run.workers=2"]);
  const r = await benchTraining(config, { backend: "wasm", steps: 3, warmup: 1, vsOneReplica: true });
  assert.equal(r.replicas, 2);
  // One pair of blocks: PAIRED_BLOCK - 1 timed steps each way.
  assert.equal(r.steps, PAIRED_BLOCK - 1);
  assert.ok(r.one_replica_ms_per_step! > 0, JSON.stringify(r));
  const ratio = r.one_replica_ms_per_step! / r.ms_per_step;
  assert.ok(Math.abs(r.replica_speedup! - ratio) < 1e-3 + ratio * 1e-3, JSON.stringify(r));
  const [lo, hi] = r.replica_speedup_range!;
  assert.ok(lo <= r.replica_speedup! + 1e-3 && r.replica_speedup! <= hi + 1e-3, JSON.stringify(r));
  // The wait for replicas is counted in their blocks alone, per step of those blocks.
  assert.ok(r.replica_wait_ms_per_step < r.ms_per_step, JSON.stringify(r));
  const one = await benchTraining(
    tinyConfig(["model.d_model=32", "train.batch_size=8", "train.micro_batch=4", "run.workers=1"]),
    { backend: "wasm", steps: 3, warmup: 1, vsOneReplica: true },
  );
  assert.equal(one.replicas, 1);
  assert.equal(one.steps, 3);
  assert.ok(one.kernels_per_step > 0, "the counted step ran");
  assert.equal(one.replica_speedup, undefined);
  const table = markdownTable([{ config: "c.yaml", ...r }], null);
  assert.match(table.split("\n")[0]!, /\| replicas vs one \|$/);
  assert.match(table.split("\n")[2]!, /\| \d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\) \|$/);
});

Deno.test("the Markdown table gives PyTorch's row, peak shares and the ratio", () => {
  const table = markdownTable([
    {
      config: "configs/vit-small.yaml",
      backend: "blas",
      batch: 128,
      ms_per_step: 100,
      images_per_second: 1280,
      achieved_gflops: 27.8,
      of_machine_peak: 0.1356,
      products_of_machine_peak: 0.4,
      vs_pytorch: 0.674,
      kernels_per_step: 1739,
    },
    {
      config: "configs/vit-small.yaml",
      backend: "pytorch",
      batch: 128,
      threads: 1,
      ms_per_step: 67.4,
      images_per_second: 1899,
    },
  ], 205);
  const rows = table.split("\n");
  assert.match(rows[0]!, /of machine peak \(205 GFLOP\/s\)/);
  assert.equal(rows[2], "| vit-small (128) | blas | 100 | 1,280 | 27.8 | 13.6% | 40.0% | 0.67× | 1,739 |");
  assert.equal(rows[3], "| vit-small (128) | PyTorch (1 thread) | 67.4 | 1,899 | – | – | – | 1 | – |");
});

Deno.test("--profile: the counted step's kernels by name add up to its count, most time first, none counted twice", async () => {
  const config = tinyConfig(["model.d_model=32", "train.batch_size=8"]);
  const r = await benchTraining(config, { backend: "wasm", steps: 2, warmup: 1, profile: true });
  const rows = r.kernel_profile!;
  assert.equal(rows.reduce((a, x) => a + x.count, 0), r.kernels_per_step);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1]!.ms >= rows[i]!.ms, "sorted by time");
  assert.ok(rows.some((x) => x.kernel === "BatchMatMul") && rows.some((x) => x.kernel === "VitlabAdamUpdateAll"));
  // Own times: a kernel run inside another (a gradient's kernels) is not counted in both, so the
  // total stays under one step's wall time.
  const own = rows.reduce((a, x) => a + x.ms, 0);
  // Against the counted step's own wall time, not the timed steps' median: a loaded machine
  // makes one step take twice another.
  assert.ok(own > 0 && own <= r.profiled_step_ms! + 0.05, `${own} ms of kernels in a ${r.profiled_step_ms} ms step`);
  const plain = await benchTraining(config, { backend: "wasm", steps: 2, warmup: 1 });
  assert.equal(plain.kernel_profile, undefined);
});
