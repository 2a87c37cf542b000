/** vitlab's wasm kernels (buffer-sharing Identity, row-adding Sum) agree with the cpu backend. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { ADAM_ALL_KERNEL, ADAM_KERNEL, adamUpdate, adamUpdateAll } from "../lib/backend/adam_update.ts";
import { ADD_PACKED_KERNEL, addPacked } from "../lib/backend/add_packed.ts";
import { initBackend } from "../lib/backend/backend.ts";
import { sumOfSquares } from "../lib/backend/sum_squares.ts";
import { clipScale, globalNorm } from "../lib/train/clip.ts";
import { Rng } from "../lib/random.ts";
import { ADAM_CASES } from "./_helpers.ts";

function values(shape: number[], seed: number): Float32Array {
  const rng = Rng.fromSeed(seed, "wasm-kernels-test");
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 10);
}

const SUMS: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
  { shape: [37, 5], axis: 0, keepDims: false }, // a bias gradient: the replaced path
  { shape: [37, 5], axis: -2, keepDims: true },
  { shape: [4, 9, 6], axis: [1, 0], keepDims: false }, // a leading run given out of order
  { shape: [4, 9, 6], axis: [0, 1], keepDims: true },
  { shape: [4, 9, 6], axis: 1, keepDims: false }, // not leading: tfjs's own kernel
  { shape: [4, 9, 6], axis: [0, 2], keepDims: false },
  { shape: [37, 5], axis: [0, 1], keepDims: false }, // every axis: tfjs's own kernel
  { shape: [37, 5], axis: -1, keepDims: false },
];

async function sums(backend: "cpu" | "wasm"): Promise<{ shape: number[]; data: Float32Array }[]> {
  await initBackend(backend);
  const out = [];
  for (const [i, c] of SUMS.entries()) {
    const x = tf.tensor(values(c.shape, i), c.shape);
    const s = tf.sum(x, c.axis, c.keepDims);
    out.push({ shape: s.shape, data: (await s.data()) as Float32Array });
    tf.dispose([x, s]);
  }
  return out;
}

Deno.test("Sum over leading axes on wasm is each column's float64 sum in row order, rounded once, in and out of the cache", async () => {
  await initBackend("wasm");
  // Small ones walk column by column, large ones row by row (fits_cache in kernels.c); the bytes
  // must be the same formula either way. Magnitudes from 1e-3 to 1e3, so that order and
  // precision both show.
  for (const shape of [[5, 7], [1088, 64], [2, 544, 64], [6400, 96], [3001, 131], [7, 20000]]) {
    const cols = shape.at(-1)!, rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.7) * 10 ** ((i % 7) - 3));
    const x = tf.tensor(data, shape);
    const got = await tf.sum(x, shape.slice(0, -1).map((_, i) => i)).data();
    const want = new Float32Array(cols);
    for (let c = 0; c < cols; c++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += data[r * cols + c]!;
      want[c] = sum;
    }
    const i = want.findIndex((v, c) => !Object.is(v, got[c]));
    assert.equal(i, -1, `[${shape}]: column ${i} is ${got[i]}, its float64 sum rounded is ${want[i]}`);
    x.dispose();
  }
});

Deno.test("Sum on wasm equals the cpu backend's for leading, inner and full reductions, with keepDims", async () => {
  const cpu = await sums("cpu");
  const wasm = await sums("wasm");
  for (const [i, c] of SUMS.entries()) {
    assert.deepEqual(wasm[i]!.shape, cpu[i]!.shape, `shape of sum ${JSON.stringify(c)}`);
    for (let j = 0; j < cpu[i]!.data.length; j++) {
      // cpu adds in float32, the replaced kernel in float64: agree to float32 rounding of the sum.
      const tol = 1e-5 * Math.max(1, Math.abs(cpu[i]!.data[j]!)) * c.shape[0]!;
      assert.ok(Math.abs(wasm[i]!.data[j]! - cpu[i]!.data[j]!) <= tol, `sum ${JSON.stringify(c)} at ${j}`);
    }
  }
  // An integer sum still goes to tfjs's kernel.
  const ints = tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], "int32");
  assert.deepEqual(Array.from(await tf.sum(ints, 0).data()), [9, 12]);
  ints.dispose();
});

Deno.test("Identity on wasm shares the buffer and survives the source's disposal; memory is released", async () => {
  await initBackend("wasm");
  const before = tf.memory().numBytes;
  const x = tf.tensor2d(values([50, 8], 1), [50, 8]);
  const copy = tf.clone(x);
  const expected = Array.from(await x.data());
  x.dispose();
  assert.deepEqual(Array.from(await copy.data()), expected);
  // An op on the clone writes a new buffer and leaves the clone as it was.
  const doubled = tf.mul(copy, 2);
  assert.deepEqual(Array.from(await copy.data()), expected);
  assert.equal((await doubled.data())[3], expected[3]! * 2);
  tf.dispose([copy, doubled]);
  assert.equal(tf.memory().numBytes, before);
});

Deno.test("gradients through saved (cloned) tensors on wasm equal the cpu backend's", async () => {
  const grads = async (backend: "cpu" | "wasm") => {
    await initBackend(backend);
    const x = tf.tensor2d(values([12, 6], 2), [12, 6]);
    const b = tf.tensor1d(values([6], 3));
    const g = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(tf.tanh(tf.add(a, c)))));
    const [gx, gb] = g([x, b]);
    const out = [Array.from(await gx!.data()), Array.from(await gb!.data())];
    tf.dispose([x, b, gx!, gb!]);
    return out;
  };
  const cpu = await grads("cpu");
  const wasm = await grads("wasm");
  for (let k = 0; k < 2; k++) {
    for (let j = 0; j < cpu[k]!.length; j++) {
      assert.ok(Math.abs(cpu[k]![j]! - wasm[k]![j]!) <= 1e-4 * Math.max(1, Math.abs(cpu[k]![j]!)), `grad ${k} at ${j}`);
    }
  }
});

Deno.test("the fused Adam(W) update on wasm equals the tfjs-ops formula on cpu, with clipping, L2 and decoupled decay", async () => {
  const hypers = ADAM_CASES;
  const run = async (backend: "cpu" | "wasm") => {
    await initBackend(backend);
    const out: number[][] = [];
    for (const [i, h] of hypers.entries()) {
      const [p, g, m] = [0, 1, 2].map((k) => tf.tensor2d(values([9, 7], 10 * i + k), [9, 7]));
      const v = tf.abs(tf.tensor2d(values([9, 7], 10 * i + 3), [9, 7]));
      const res = adamUpdate(p!, g!, m!, v, h);
      for (const t of res) out.push(Array.from(await t.data()));
      tf.dispose([p!, g!, m!, v, ...res]);
    }
    return out;
  };
  assert.equal(tf.getKernel(ADAM_KERNEL, "cpu"), undefined, "cpu runs the tfjs-ops formula");
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  assert.ok(tf.getKernel(ADAM_KERNEL, "wasm"), "wasm runs the fused kernel");
  for (let k = 0; k < cpu.length; k++) {
    for (let j = 0; j < cpu[k]!.length; j++) {
      const [a, b] = [cpu[k]![j]!, wasm[k]![j]!];
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(a)), `output ${k} at ${j}: ${a} vs ${b}`);
    }
  }
});

Deno.test("the fused sum of squares on wasm equals stack + sum on cpu; the global norm and clip factor follow torch", async () => {
  const shapes = [[3, 4], [5], [2, 2, 2], [1]];
  const run = async (backend: "cpu" | "wasm") => {
    await initBackend(backend);
    const ts = shapes.map((s, i) => tf.tensor(values(s, 40 + i), s));
    const total = sumOfSquares(ts);
    const out = (await total.data())[0]!;
    tf.dispose([...ts, total]);
    return out;
  };
  const cpu = await run("cpu");
  const wasm = await run("wasm");
  assert.ok(Math.abs(cpu - wasm) <= 1e-5 * cpu, `${cpu} vs ${wasm}`);
  // Exactly the float64 sum in input order, rounded once, over values whose order matters.
  let exact = 0;
  for (const [i, s] of shapes.entries()) for (const v of values(s, 40 + i)) exact += v * v;
  assert.equal(wasm, Math.fround(exact));
  await initBackend("wasm");
  const spread = [tf.tensor1d([1e8, 1, -1e8, 1, 3e-4, 7]), tf.tensor1d([1e-3, 2e7])];
  let inOrder = 0;
  for (const t of spread) for (const v of t.dataSync()) inOrder += v * v;
  assert.equal((await sumOfSquares(spread).data())[0], Math.fround(inOrder));
  tf.dispose(spread);
  assert.equal((await sumOfSquares([]).data())[0], 0);
  const norm = globalNorm({ a: tf.tensor1d([3]), b: tf.tensor2d([[0, 4]]) });
  assert.equal((await norm.data())[0], 5);
  assert.ok(Math.abs(clipScale(5, 1) - 1 / (5 + 1e-6)) < 1e-12);
  assert.equal(clipScale(0.5, 1), 1);
  assert.equal(clipScale(50, 0), 1);
});

Deno.test("the packed add on wasm gives tf.add's bytes, as the cpu fallback does; a wrong length is an error", async () => {
  const shapes = [[3, 5], [7], [2, 2, 3], []];
  const rng = Rng.fromSeed(7, "add-packed-test");
  // Magnitudes from 1e-30 to 1e30 with either sign: sums that round, cancel and stay exact.
  const draw = (n: number) =>
    Float32Array.from({ length: n }, () => rng.normal() * 10 ** Math.round(rng.normal() * 10));
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const bases = sizes.map(draw);
  const packed = draw(sizes.reduce((a, b) => a + b, 0));
  for (const backend of ["wasm", "cpu"] as const) {
    await initBackend(backend);
    assert.equal(Boolean(tf.getKernel(ADD_PACKED_KERNEL, backend)), backend === "wasm");
    const xs = bases.map((b, i) => tf.tensor(b, shapes[i]!, "float32"));
    const got = addPacked(xs, packed);
    let offset = 0;
    for (const [i, x] of xs.entries()) {
      const want = tf.add(x, tf.tensor(packed.subarray(offset, offset + sizes[i]!), shapes[i]!, "float32"));
      assert.deepEqual(got[i]!.shape, shapes[i], `${backend}: shape of tensor ${i}`);
      assert.deepEqual(new Uint32Array((await got[i]!.data()).buffer), new Uint32Array((await want.data()).buffer));
      offset += sizes[i]!;
      want.dispose();
    }
    assert.throws(() => addPacked(xs, packed.subarray(1)), /packed addends have 34 values, not 35/);
    tf.dispose([...xs, ...got]);
  }
});

const SLICES: { shape: number[]; begin: number[]; size: number[] }[] = [
  { shape: [64, 17, 64], begin: [0, 1, 0], size: [64, 16, 64] }, // the patch tokens (mean pooling)
  { shape: [64, 17, 64], begin: [0, 0, 0], size: [64, 1, 64] }, // the class token
  { shape: [6, 5, 4, 3], begin: [1, 2, 1, 0], size: [4, 2, 3, 3] },
  { shape: [6, 5, 4, 3], begin: [0, 0, 1, 1], size: [6, 5, 2, 1] }, // the innermost dim cut
  { shape: [6, 5, 4, 3], begin: [2, 0, 0, 0], size: [3, 5, 4, 3] }, // contiguous
  { shape: [3, 2, 4, 2, 3], begin: [1, 0, 1, 1, 0], size: [2, 2, 2, 1, 3] }, // rank 5
  { shape: [9], begin: [3], size: [4] },
  { shape: [4, 7], begin: [1, 2], size: [2, -1] },
  { shape: [4, 7], begin: [1, 0], size: [0, 7] }, // empty
];

async function slices(backend: "cpu" | "wasm") {
  await initBackend(backend);
  const out: { data: Float32Array; shape: number[] }[] = [];
  for (const [i, c] of SLICES.entries()) {
    const x = tf.tensor(values(c.shape, 40 + i), c.shape);
    const y = tf.slice(x, c.begin, c.size);
    out.push({ data: y.dataSync() as Float32Array, shape: y.shape });
    // SplitV along each axis into uneven parts, and the class-token split of a concat's gradient.
    for (let axis = 0; axis < c.shape.length; axis++) {
      const n = c.shape[axis]!;
      const parts = n >= 3 ? [1, n - 3, 2] : [n];
      for (const p of tf.split(x, parts, axis)) out.push({ data: p.dataSync() as Float32Array, shape: p.shape });
    }
    x.dispose();
  }
  return out;
}

Deno.test("Slice and SplitV on wasm (runs copied whole) equal the cpu backend's, every rank and cut", async () => {
  const wasm = await slices("wasm");
  const cpu = await slices("cpu");
  assert.equal(wasm.length, cpu.length);
  for (let i = 0; i < cpu.length; i++) {
    assert.deepEqual(wasm[i]!.shape, cpu[i]!.shape);
    assert.deepEqual(wasm[i]!.data, cpu[i]!.data, `slice ${i}`);
  }
});

Deno.test("every variable's Adam(W) update in one kernel on wasm gives the bytes of one kernel per variable", async () => {
  await initBackend("wasm");
  assert.ok(tf.getKernel(ADAM_ALL_KERNEL, "wasm"));
  const shapes = [[9, 7], [5], [3, 2, 4], [1]];
  const items = shapes.map((s, i) => ({
    p: tf.tensor(values(s, 60 + i), s),
    g: tf.tensor(values(s, 70 + i), s),
    m: tf.tensor(values(s, 80 + i), s),
    v: tf.abs(tf.tensor(values(s, 90 + i), s)),
    h: ADAM_CASES[i % ADAM_CASES.length]!,
  }));
  const all = adamUpdateAll(items);
  const one = items.map((it) => adamUpdate(it.p, it.g, it.m, it.v, it.h));
  assert.equal(all.length, items.length);
  for (let i = 0; i < items.length; i++) {
    for (let k = 0; k < 3; k++) {
      assert.deepEqual(all[i]![k]!.shape, items[i]!.p.shape);
      assert.deepEqual(all[i]![k]!.dataSync(), one[i]![k]!.dataSync(), `variable ${i}, output ${k}`);
    }
  }
  // Different hyper-parameters per variable reach their own variable: the two cases differ.
  assert.notDeepEqual(
    all[0]![0]!.dataSync(),
    adamUpdate(items[0]!.p, items[0]!.g, items[0]!.m, items[0]!.v, ADAM_CASES[1]!)[0].dataSync(),
  );
  tf.dispose([...items.flatMap((it) => [it.p, it.g, it.m, it.v]), ...all.flat(), ...one.flat()]);
});
