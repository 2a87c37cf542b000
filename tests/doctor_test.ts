/**
 * `doctor`: every backend is reported, loading or with a reason and a fix; the WebGPU adapter,
 * the bindings and OpenBLAS are described; each usable backend gets a bench; the Markdown
 * report has the same sections. In CI WebGPU runs on lavapipe (tests/setup.sh installs it).
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { runDoctor } from "../lib/doctor/doctor.ts";
import { doctorMarkdown, doctorText } from "../lib/doctor/format.ts";
import { BACKENDS } from "../lib/config/schema.ts";
import { tempDir, tinyConfig, vitlabWith, writeTinyConfig } from "./_helpers.ts";

const SECTIONS = ["Runtime", "Backends", "WebGPU adapters", "TensorFlow bindings", "OpenBLAS", "Training bench"];

Deno.test("doctor reports every backend, the adapter, bindings and OpenBLAS, and benches each usable backend", async () => {
  const r = await runDoctor({ config: tinyConfig(), configPath: "tiny.yaml", steps: 1, warmup: 0 });
  assert.equal(r.runtime.deno, Deno.version.deno);
  assert.deepEqual(r.backends.map((b) => b.backend), BACKENDS.filter((b) => b !== "auto"));
  for (const b of r.backends) {
    if (b.loads) assert.ok(b.device && !b.reason && !b.fix, JSON.stringify(b));
    else {
      assert.ok(b.reason && b.fix, `${b.backend} needs a reason and a fix: ${JSON.stringify(b)}`);
      assert.doesNotMatch(b.reason, /\n|^backend '|; run /, `one line, the reason only: ${b.reason}`);
    }
  }
  const loads = (name: string) => r.backends.find((b) => b.backend === name)!.loads;
  for (const name of ["cpu", "wasm", "webgpu"]) assert.ok(loads(name), `${name} loads`);
  assert.equal(r.openblas.present, loads("blas"));
  assert.ok(r.webgpu.adapters.length >= 1, "an adapter (lavapipe in CI)");
  for (const a of r.webgpu.adapters) {
    assert.ok(a.limits.maxStorageBuffersPerShaderStage! >= 8 && a.via.length >= 1, JSON.stringify(a));
    assert.equal(typeof a.software, "boolean");
  }
  assert.deepEqual(r.tensorflow.map((t) => t.backend), ["tensorflow", "tensorflow-gpu"]);
  for (const t of r.tensorflow) if (loads(t.backend)) assert.ok(t.installed && t.binding, JSON.stringify(t));
  // One bench per usable backend, in the backends' order.
  assert.deepEqual(r.bench.map((b) => b.backend), r.backends.filter((b) => b.loads).map((b) => b.backend));
  for (const b of r.bench) {
    assert.equal(b.error, undefined, `${b.backend}: ${b.error}`);
    assert.ok(b.images_per_second! > 0 && b.kernels_per_step! > 0 && b.us_per_kernel! > 0, JSON.stringify(b));
    assert.equal(b.dispatches_per_step !== undefined, b.backend === "webgpu", JSON.stringify(b));
  }
  assert.ok(r.opChain.length === 2 && r.opChain.every((c) => c.correct && c.us_per_op > 0), JSON.stringify(r.opChain));
  const md = doctorMarkdown(r);
  const text = doctorText(r);
  for (const s of SECTIONS) {
    assert.match(md, new RegExp(`^## ${s}$`, "m"));
    assert.match(text, new RegExp(`^${s}$`, "m"));
  }
  for (const b of r.bench) assert.match(md, new RegExp(`^\\| ${b.backend} \\| [\\d.,]+ \\| `, "m"));
  const quiet = await runDoctor({ config: tinyConfig(), configPath: "tiny.yaml", steps: 0, warmup: 0 });
  assert.deepEqual([quiet.bench, quiet.benchSetup], [[], null]);
  assert.doesNotMatch(doctorMarkdown(quiet), /## Training bench/);
});

Deno.test("deno task doctor prints the report and writes it as Markdown with --report; bad flags exit 2", async () => {
  const dir = tempDir();
  const config = writeTinyConfig(dir);
  const run = (...args: string[]) => vitlabWith(["--unstable-webgpu"], "doctor", ...args);
  const report = `${dir}/doctor.md`;
  const r = await run("--config", config, "--steps", "1", "--warmup", "0", "--report", report);
  assert.equal(r.code, 0, r.stderr);
  for (const s of SECTIONS) assert.match(r.stdout, new RegExp(`^${s}$`, "m"));
  const md = Deno.readTextFileSync(report);
  assert.match(md, /^# vitlab doctor\n/);
  for (const s of SECTIONS) assert.match(md, new RegExp(`^## ${s}$`, "m"));
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp")), [], "written atomically");
  const bad = await run("--steps", "-1");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--steps: expected an integer ≥ 0, got '-1'/);
  const fmt = await run("--steps", "0", "--format", "csv");
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format: expected text, md or json, got 'csv'/);
});
