/** The blas backend: OpenBLAS products agree with the wasm kernel and training stays reproducible. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { blasKernelHint, openBlas, recordProducts, timeProducts } from "../lib/backend/blas.ts";
import { Rng } from "../lib/random.ts";
import { blasCoreWith } from "../lib/doctor/doctor.ts";

let why: string | null = null;
try {
  openBlas();
} catch (e) {
  why = (e as Error).message;
}
// tests/setup.sh installs libopenblas0-pthread on Linux, so a missing library fails these tests
// with its reason. The library names blas loads are Linux's: elsewhere they cannot exist.
const skip = Deno.build.os !== "linux";

function rand(shape: number[], seed: number): tf.Tensor {
  const rng = Rng.fromSeed(seed, "blas-test");
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()), shape);
}

const CASES: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
  { a: [7, 5], b: [5, 3], ta: false, tb: false },
  { a: [5, 7], b: [5, 3], ta: true, tb: false },
  { a: [7, 5], b: [3, 5], ta: false, tb: true },
  { a: [5, 7], b: [3, 5], ta: true, tb: true },
  { a: [4, 6, 5], b: [4, 5, 3], ta: false, tb: false },
  { a: [4, 6, 5], b: [4, 3, 5], ta: false, tb: true },
  { a: [2, 3, 5, 6], b: [2, 3, 5, 4], ta: true, tb: false },
  { a: [4, 6, 5], b: [5, 3], ta: false, tb: false },
  { a: [6, 5], b: [4, 5, 3], ta: false, tb: false },
];

Deno.test({
  name: "OpenBLAS products equal the wasm kernel's for every transpose and batch layout (Linux only)",
  ignore: skip,
  fn: async () => {
    assert.equal(why, null, why ?? "");
    const results: Float32Array[][] = [];
    for (const backend of ["wasm", "blas"] as const) {
      await initBackend(backend);
      const out: Float32Array[] = [];
      for (const [i, c] of CASES.entries()) {
        const y = tf.matMul(rand(c.a, i), rand(c.b, i + 100), c.ta, c.tb);
        out.push((await y.data()) as Float32Array);
      }
      results.push(out);
    }
    for (let i = 0; i < CASES.length; i++) {
      const [w, b] = [results[0]![i]!, results[1]![i]!];
      assert.equal(b.length, w.length, `case ${i}`);
      for (let j = 0; j < w.length; j++) {
        assert.ok(Math.abs(w[j]! - b[j]!) <= 1e-5 * (1 + Math.abs(w[j]!)), `case ${i}[${j}]`);
      }
    }
    await initBackend("wasm");
  },
});

Deno.test({
  name:
    "the products a computation sends to OpenBLAS are recorded with their shapes and can be timed alone (Linux only)",
  ignore: skip,
  fn: async () => {
    await initBackend("blas");
    recordProducts(true);
    const a = rand([4, 6, 5], 1);
    const b = rand([4, 3, 5], 2);
    const y = tf.matMul(a, b, false, true); // [4, 6, 3]
    const z = tf.matMul(rand([7, 5], 3), rand([5, 2], 4));
    await Promise.all([y.data(), z.data()]);
    const shapes = recordProducts(false);
    assert.deepEqual(shapes, [
      { m: 6, n: 3, k: 5, transA: false, transB: true, batch: 4 },
      { m: 7, n: 2, k: 5, transA: false, transB: false, batch: 1 },
    ]);
    // Stopped: nothing more is recorded.
    await tf.matMul(rand([2, 2], 5), rand([2, 2], 6)).data();
    assert.deepEqual(recordProducts(false), []);
    const big = [{ m: 256, n: 256, k: 256, transA: false, transB: false, batch: 2 }];
    const t = timeProducts(big, 3);
    assert.ok(t.ms > 0 && Number.isFinite(t.gflops) && t.gflops > 0);
    // 2·m·n·k·batch flops in t.ms.
    assert.ok(Math.abs(t.gflops * t.ms * 1e6 - 2 * 256 ** 3 * 2) / (2 * 256 ** 3 * 2) < 1e-6);
    await initBackend("wasm");
  },
});

Deno.test("the kernel advice appears only when OPENBLAS_CORETYPE holds OpenBLAS to other kernels than its own choice", () => {
  const hint = blasKernelHint({ core: "Haswell", forced: "Haswell" }, "Cooperlake");
  assert.match(hint ?? "", /^OPENBLAS_CORETYPE=Haswell in the environment .* chooses Cooperlake on this CPU/);
  assert.ok(!hint!.includes("\n"));
  assert.equal(blasKernelHint({ core: "Haswell", forced: "Haswell" }, "Haswell"), null);
  assert.equal(blasKernelHint({ core: "Haswell", forced: "haswell" }, "HASWELL"), null);
  assert.equal(blasKernelHint({ core: "Cooperlake", forced: null }, "Cooperlake"), null);
  assert.equal(blasKernelHint({ core: "Haswell", forced: "Haswell" }, null), null);
});

Deno.test({
  name: "OPENBLAS_CORETYPE chooses the kernels, the probe doctor runs reports them, and blas names them (Linux only)",
  ignore: skip,
  fn: async () => {
    assert.equal(why, null, why ?? "");
    // Every x86-64 CPU CI runs on can run OpenBLAS's Haswell (AVX2) and Nehalem kernels.
    if (Deno.build.arch === "x86_64") {
      assert.equal(await blasCoreWith("Haswell"), "Haswell");
      assert.equal(await blasCoreWith("Nehalem"), "Nehalem");
    }
    assert.match((await blasCoreWith(null)) ?? "", /^\w+$/);
    const info = openBlas();
    assert.ok(info.config.includes(info.core), `${info.core} not in ${info.config}`);
    assert.equal(info.forced, Deno.env.get("OPENBLAS_CORETYPE") || null);
    const { device } = await initBackend("blas");
    assert.ok(device.includes(`${info.core} kernels`), device);
    await initBackend("wasm");
  },
});
