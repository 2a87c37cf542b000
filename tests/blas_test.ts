/** The blas backend: OpenBLAS products agree with the wasm kernel and training stays reproducible. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { openBlas } from "../lib/backend/blas.ts";
import { Rng } from "../lib/random.ts";

let why: string | null = null;
try {
  openBlas();
} catch (e) {
  why = (e as Error).message;
}
// CI installs libopenblas0-pthread: there a missing library is a failure, not a skip.
const skip = why !== null && Deno.env.get("CI") !== "true";
if (skip) console.log(`blas tests skipped: ${why}`);

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
  name: "OpenBLAS products equal the wasm kernel's for every transpose and batch layout",
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
