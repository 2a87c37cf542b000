/** The fused SIMD kernels (GELU, LayerNorm, softmax's backward) against float64 maths and the cpu backend. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { recordProducts } from "../lib/backend/blas.ts";
import {
  ADD_LAYER_NORM_KERNEL,
  ATTENTION_KERNEL,
  BLAS_ATTENTION_MIN_TOKENS,
  EMA_KERNEL,
  GELU_KERNEL,
  hasFusedKernel,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  LINEAR_KERNEL,
  SOFTMAX_GRAD_KERNEL,
} from "../lib/backend/simd_kernels.ts";
import { KERNELS_WASM_BASE64 } from "../lib/backend/simd/kernels_wasm.ts";
import { adamUpdate } from "../lib/backend/adam_update.ts";
import { ADAM_CASES } from "./_helpers.ts";
import { Attention, softmaxLastAxis } from "../lib/model/attention.ts";
import { EVAL, type ForwardContext } from "../lib/model/context.ts";
import { LayerNorm } from "../lib/model/layer_norm.ts";
import { Linear } from "../lib/model/linear.ts";
import { gelu } from "../lib/model/mlp.ts";
import { ParamStore } from "../lib/model/params.ts";
import { Rng } from "../lib/random.ts";

/** erf in float64: Simpson's rule over 2/√π·e^(−t²), far finer than float32 needs. */
function erf64(x: number): number {
  const n = 4000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return (s * h / 3) * 2 / Math.sqrt(Math.PI);
}

function values(n: number, seed: number, scale: number): Float32Array {
  const rng = Rng.fromSeed(seed, "simd-kernels-test");
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Every float32 worth testing: a grid over [−8, 8] (both tails) plus a few exact cases. */
const GRID = Float32Array.from([...Array.from({ length: 1601 }, (_, i) => -8 + i / 100), 0, -0, 1e-30, -40, 40]);

Deno.test("fused GELU and its derivative are within 2e-7 (absolute, relative beyond 1) of float64 maths, tails included", async () => {
  await initBackend("wasm");
  assert.ok(hasFusedKernel(GELU_KERNEL), "the wasm backend has the fused GELU");
  const x = tf.tensor1d(GRID);
  const dy = tf.onesLike(x);
  const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => gelu(t))([x], dy);
  const y = await value.data();
  const dx = await grads[0]!.data();
  for (let i = 0; i < GRID.length; i++) {
    const v = GRID[i]!;
    const cdf = 0.5 * (1 + (Math.abs(v) > 7 ? Math.sign(v) : erf64(v * Math.SQRT1_2)));
    const pdf = Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
    const tol = 2e-7 * Math.max(1, Math.abs(v));
    assert.ok(Math.abs(y[i]! - v * cdf) <= tol, `GELU(${v}) = ${y[i]} against ${v * cdf}`);
    assert.ok(Math.abs(dx[i]! - (cdf + v * pdf)) <= tol, `GELU'(${v}) = ${dx[i]} against ${cdf + v * pdf}`);
  }
  tf.dispose([x, dy, value, ...grads]);
});

/** LayerNorm then softmax then GELU on given data: outputs and every gradient, on one backend. */
async function chain(backend: "cpu" | "wasm", rows: number, d: number) {
  await initBackend(backend);
  const store = new ParamStore();
  const norm = new LayerNorm(store, Rng.fromSeed(0, "init"), "norm", d);
  norm.weight.assign(tf.tensor1d(values(d, 1, 1)));
  norm.bias.assign(tf.tensor1d(values(d, 2, 1)));
  const x = tf.tensor2d(values(rows * d, 3, 3), [rows, d]);
  const dy = tf.tensor2d(values(rows * d, 4, 1), [rows, d]);
  const f = () => tf.mul(gelu(softmaxLastAxis(norm.apply(x))), dy).sum() as tf.Scalar;
  const { value, grads } = tf.variableGrads(f, [norm.weight, norm.bias]);
  const dx = tf.grad((t: tf.Tensor) => tf.mul(gelu(softmaxLastAxis(norm.apply(t))), dy))(x, tf.onesLike(x));
  const out = {
    loss: (await value.data())[0]!,
    dw: await grads[norm.weight.name]!.data(),
    db: await grads[norm.bias.name]!.data(),
    dx: await dx.data(),
    y: await norm.apply(x).data(),
  };
  tf.dispose([x, dy, value, dx, ...Object.values(grads)]);
  store.dispose();
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} against ${b[i]}`);
  }
}

for (const [rows, d] of [[37, 64], [5, 7], [130, 130]] as const) {
  Deno.test(`LayerNorm, softmax and GELU fused on wasm match the cpu backend's composite ops, forward and backward (${rows}×${d})`, async () => {
    const cpu = await chain("cpu", rows, d);
    const wasm = await chain("wasm", rows, d);
    assert.ok(hasFusedKernel(LAYER_NORM_KERNEL) && hasFusedKernel(SOFTMAX_GRAD_KERNEL));
    close(wasm.y, cpu.y, 2e-6, "LayerNorm output");
    close([wasm.loss], [cpu.loss], 1e-5, "loss");
    close(wasm.dx, cpu.dx, 2e-5, "dx");
    close(wasm.dw, cpu.dw, 1e-5, "dw");
    close(wasm.db, cpu.db, 1e-5, "db");
  });
}

/** Byte equality with a short message (a deep-equal diff of a megabyte takes minutes). */
function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: ${a.length} bytes against ${b.length}`);
  const i = a.findIndex((v, j) => v !== b[j]);
  assert.equal(i, -1, `${what}: the bytes differ from byte ${i}`);
}

/**
 * A residual add and the LayerNorm after it, through {@linkcode LayerNorm.applyResidual} on wasm:
 * s, y and the gradients of x, the branch, w and b (when the loss reads y), as bytes. `use` says which outputs the loss
 * reads; with `alsoX` the loss reads x itself too, so x's gradient sums two paths.
 */
async function residualNorm(shape: number[], use: "s" | "y" | "both", alsoX: boolean) {
  const n = shape.reduce((a, b) => a * b, 1), d = shape.at(-1)!;
  const store = new ParamStore();
  const norm = new LayerNorm(store, Rng.fromSeed(0, "init"), "norm", d);
  norm.weight.assign(tf.tensor1d(values(d, 1, 1)));
  norm.bias.assign(tf.tensor1d(values(d, 2, 1)));
  const x = tf.tensor(values(n, 3, 3), shape);
  const br = tf.tensor(values(n, 5, 0.5), shape);
  const [ca, cb, cc] = [6, 7, 8].map((seed) => tf.tensor(values(n, seed, 1), shape));
  const loss = (xv: tf.Tensor, bv: tf.Tensor) => {
    const [s, y] = norm.applyResidual(xv, bv);
    const terms = [];
    if (use !== "y") terms.push(tf.sum(tf.mul(s, ca!)));
    if (use !== "s") terms.push(tf.sum(tf.mul(gelu(y as tf.Tensor2D), cb!)));
    if (alsoX) terms.push(tf.sum(tf.mul(xv, cc!)));
    return tf.addN(terms) as tf.Scalar;
  };
  const [s, y] = norm.applyResidual(x, br);
  const [dx, dbr] = tf.grads(loss)([x, br]);
  const out = [s, y, dx!, dbr!];
  if (use !== "s") {
    const { grads } = tf.variableGrads(() => loss(x, br), [norm.weight, norm.bias]);
    out.push(grads[norm.weight.name]!, grads[norm.bias.name]!);
  }
  const bytes = await Promise.all(out.map(async (t) => new Uint8Array((await t.data() as Float32Array).buffer)));
  tf.dispose([x, br, ca!, cb!, cc!, ...out]);
  store.dispose();
  return bytes;
}

Deno.test("a residual add fused into the LayerNorm after it gives the bytes of tf.add then LayerNorm on wasm, forward and backward", async () => {
  await initBackend("wasm");
  const fused = tf.getKernel(ADD_LAYER_NORM_KERNEL, "wasm")!;
  const names = ["s", "y", "dx", "dbranch", "dw", "db"];
  for (const shape of [[2, 17, 64], [5, 7], [3, 4, 130]]) {
    for (const [use, alsoX] of [["both", false], ["both", true], ["y", false], ["s", true]] as const) {
      const a = await residualNorm(shape, use, alsoX);
      tf.unregisterKernel(ADD_LAYER_NORM_KERNEL, "wasm");
      try {
        assert.ok(!hasFusedKernel(ADD_LAYER_NORM_KERNEL));
        const b = await residualNorm(shape, use, alsoX);
        assert.equal(a.length, b.length);
        a.forEach((v, i) => sameBytes(v, b[i]!, `${names[i]} of [${shape}], loss on ${use}${alsoX ? " and x" : ""}`));
      } finally {
        tf.registerKernel(fused);
      }
    }
  }
});

/** A linear layer's output and its gradients (input, weight, bias) as bytes, on the active backend. */
async function linearBytes(m: number, k: number, n: number) {
  const store = new ParamStore();
  const layer = new Linear(store, Rng.fromSeed(0, "init"), "fc", k, n);
  layer.weight.assign(tf.tensor2d(values(k * n, 1, 0.3), [k, n]));
  layer.bias!.assign(tf.tensor1d(values(n, 2, 1)));
  const x = tf.tensor2d(values(m * k, 3, 2), [m, k]);
  const c = tf.tensor2d(values(m * n, 4, 1), [m, n]);
  const loss = (xv: tf.Tensor) => tf.sum(tf.mul(gelu(layer.apply(xv as tf.Tensor2D)), c)) as tf.Scalar;
  const y = layer.apply(x);
  const dx = tf.grad(loss)(x);
  const { grads } = tf.variableGrads(() => loss(x), [layer.weight, layer.bias!]);
  const out = [y, dx, grads[layer.weight.name]!, grads[layer.bias!.name]!];
  const bytes = await Promise.all(out.map(async (t) => new Uint8Array((await t.data() as Float32Array).buffer)));
  tf.dispose([x, c, ...out]);
  store.dispose();
  return bytes;
}

for (const backend of ["wasm", "blas"] as const) {
  Deno.test(`a linear layer's bias added in its product's kernel gives the bytes of matMul then tf.add on ${backend}, forward and backward`, async () => {
    await initBackend(backend);
    const fused = tf.getKernel(LINEAR_KERNEL, "wasm")!;
    const names = ["y", "dx", "dw", "dbias"];
    for (const [m, k, n] of [[1088, 64, 192], [5, 7, 3], [33, 130, 9]] as const) {
      const a = await linearBytes(m, k, n);
      tf.unregisterKernel(LINEAR_KERNEL, "wasm");
      try {
        assert.ok(!hasFusedKernel(LINEAR_KERNEL));
        const b = await linearBytes(m, k, n);
        a.forEach((v, i) => sameBytes(v, b[i]!, `${names[i]} of [${m}, ${k}]·[${k}, ${n}]`));
      } finally {
        tf.registerKernel(fused);
      }
    }
  });
}

Deno.test("LayerNorm's dw and db on wasm are each column's float64 sum of dy·x̂ and of dy in row order, rounded once, in and out of the cache", async () => {
  await initBackend("wasm");
  // [1040, 130]: dy and x̂ too large for the column-at-a-time walk, so they add row by row
  // (fits_cache in kernels.c); the others walk column by column. The bytes are one formula.
  for (const [rows, d] of [[5, 7], [1088, 64], [1040, 130]] as const) {
    const x = tf.tensor2d(values(rows * d, 3, 3), [rows, d]);
    const w = tf.tensor1d(values(d, 1, 1));
    const b = tf.tensor1d(values(d, 2, 1));
    const dy = tf.tensor2d(values(rows * d, 4, 1), [rows, d]);
    const [y, xhat, r] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, w, b }, { eps: 1e-6 }) as tf.Tensor[];
    const [dx, dw, db] = tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, xhat: xhat!, r: r!, w }) as tf.Tensor[];
    const [g, h] = [await dy.data(), await xhat!.data()];
    const [wantW, wantB] = [new Float32Array(d), new Float32Array(d)];
    for (let c = 0; c < d; c++) {
      let [sw, sb] = [0, 0];
      for (let i = 0; i < rows; i++) {
        sw += Math.fround(g[i * d + c]! * h[i * d + c]!);
        sb += g[i * d + c]!;
      }
      [wantW[c], wantB[c]] = [sw, sb];
    }
    sameBytes(new Uint8Array((await dw!.data()).buffer), new Uint8Array(wantW.buffer), `dw of ${rows}×${d}`);
    sameBytes(new Uint8Array((await db!.data()).buffer), new Uint8Array(wantB.buffer), `db of ${rows}×${d}`);
    tf.dispose([x, w, b, dy, y!, xhat!, r!, dx!, dw!, db!]);
  }
});

Deno.test("the fused kernels' module imports only tfjs's memory and exports the twenty-one kernels", () => {
  const bytes = Uint8Array.from(atob(KERNELS_WASM_BASE64), (c) => c.charCodeAt(0));
  const module = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(module), [{ module: "env", name: "memory", kind: "memory" }]);
  assert.deepEqual(WebAssembly.Module.exports(module).map((e) => e.name).sort(), [
    "adam_update",
    "add_bias_rows",
    "add_layer_norm_bwd",
    "add_layer_norm_fwd",
    "add_scaled_groups",
    "attention_bwd",
    "attention_ds_rows",
    "attention_fwd",
    "ema_update",
    "gelu_bwd",
    "gelu_fwd",
    "layer_norm_bwd_wb",
    "layer_norm_bwd_x",
    "layer_norm_fwd",
    "layer_norm_stats_fwd",
    "scale_groups",
    "softmax_bwd",
    "softmax_rows",
    "sum_rows",
    "sum_squares",
    "transpose_0213",
  ]);
});

Deno.test("Transpose on wasm equals the cpu backend's for attention's [0, 2, 1, 3] and every other permutation", async () => {
  const cases: { shape: number[]; perm: number[]; dtype?: "int32" }[] = [
    { shape: [3, 17, 4, 16], perm: [0, 2, 1, 3] }, // attention's split into heads: the fused path
    { shape: [2, 5, 3, 7], perm: [0, 2, 1, 3] }, // rows of 7: a remainder after the SIMD copy
    { shape: [2, 5, 3, 7], perm: [0, 1, 3, 2] }, // tfjs's own kernel
    { shape: [2, 5, 3, 7], perm: [0, 2, 1, 3], dtype: "int32" },
    { shape: [6, 5, 4], perm: [1, 0, 2] },
  ];
  const run = async (backend: "cpu" | "wasm") => {
    await initBackend(backend);
    const out = [];
    for (const [n, c] of cases.entries()) {
      const x = tf.tensor(values(c.shape.reduce((a, b) => a * b, 1), n, 1), c.shape).cast(c.dtype ?? "float32");
      const y = tf.transpose(x, c.perm);
      out.push({ shape: y.shape, data: Array.from(await y.data()) });
      tf.dispose([x, y]);
    }
    return out;
  };
  assert.deepEqual(await run("wasm"), await run("cpu"));
});

/** An attention layer's output, probabilities and gradients (input, qkv and proj weights) on one backend. */
async function attention(
  backend: "cpu" | "wasm" | "blas",
  b: number,
  t: number,
  d: number,
  heads: number,
  qkvBias: boolean,
) {
  await initBackend(backend);
  if (backend === "blas") recordProducts(true);
  const store = new ParamStore();
  const attn = new Attention(store, Rng.fromSeed(5, "init"), "attn", d, { heads, qkvBias, attnDrop: 0, projDrop: 0 });
  const x = tf.tensor3d(values(b * t * d, 6, 1), [b, t, d]);
  const dy = tf.tensor3d(values(b * t * d, 7, 1), [b, t, d]);
  const ctx: ForwardContext = { ...EVAL, attention: [] };
  const y = attn.apply(x, ctx);
  const vars = store.list().map((p) => p.variable);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attn.apply(x, EVAL), dy)), vars);
  const dx = tf.grad((input: tf.Tensor) => tf.mul(attn.apply(input as tf.Tensor3D, EVAL), dy))(x);
  const out = {
    y: await y.data(),
    probs: await ctx.attention![0]!.data(),
    probsShape: ctx.attention![0]!.shape,
    // Scores' products (T×T from heads of hd) that OpenBLAS computed, if any.
    blasScores: backend === "blas"
      ? recordProducts(false).filter((s) => s.m === t && s.n === t && s.k === d / heads).length
      : 0,
    dx: await dx.data(),
    grads: await Promise.all(vars.map((v) => grads[v.name]!.data())),
  };
  tf.dispose([x, dy, y, dx, ...ctx.attention!, ...Object.values(grads)]);
  store.dispose();
  return out;
}

const ATTENTION_CASES = [[3, 17, 64, 4, true], [2, 5, 6, 2, false], [1, 50, 96, 3, true], [
  2,
  33,
  64,
  4,
  false,
]] as const;
for (const [backend, [b, t, d, heads, bias]] of ATTENTION_CASES.flatMap((c) => [["wasm", c], ["blas", c]] as const)) {
  const path = backend === "blas" && t >= BLAS_ATTENTION_MIN_TOKENS ? "OpenBLAS's products" : "fused";
  Deno.test(`attention on ${backend} (${path}) matches the cpu backend's ops: output, probabilities, every gradient (B ${b}, T ${t}, D ${d}, H ${heads})`, async () => {
    const cpu = await attention("cpu", b, t, d, heads, bias);
    const wasm = await attention(backend, b, t, d, heads, bias);
    assert.ok(hasFusedKernel(ATTENTION_KERNEL));
    assert.deepEqual(wasm.probsShape, [b, heads, t, t]);
    // Scores (three forwards: alone, under variableGrads, under grad) and dP (two backwards).
    assert.equal(wasm.blasScores, path === "fused" ? 0 : 5);
    close(wasm.y, cpu.y, 2e-6, "output");
    close(wasm.probs, cpu.probs, 2e-6, "probabilities");
    close(wasm.dx, cpu.dx, 2e-5, "dx");
    assert.equal(wasm.grads.length, bias ? 4 : 3);
    wasm.grads.forEach((g, i) => close(g, cpu.grads[i]!, 2e-5, `gradient ${i}`));
  });
}

const haveClang = ["clang-19", "wasm-ld-19", "wasm2wat"].every((tool) =>
  new Deno.Command("bash", { args: ["-c", `command -v ${tool}`], stdout: "null" }).outputSync().success
);

Deno.test({
  name: `kernels_wasm.ts is what kernels.c builds to${
    haveClang ? "" : " (needs clang-19, lld-19 and wabt: .ci/run installs them)"
  }`,
  ignore: !haveClang,
  fn() {
    const r = new Deno.Command("bash", { args: ["lib/backend/simd/build.sh", "--check"], stderr: "piped" })
      .outputSync();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
  },
});

Deno.test("a training step through the fused kernels gives the same bytes from V8's baseline and optimising wasm compilers", () => {
  // relaxed_madd may fuse or not by implementation: a tier that rounded the product first would
  // make bytes depend on when V8 tiered the module up, and reruns would differ.
  const digest = (flag: string) => {
    const r = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--v8-flags=${flag}`, "tests/fixtures/fused_digest.ts"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    return new TextDecoder().decode(r.stdout).trim();
  };
  const baseline = digest("--liftoff-only");
  assert.match(baseline, /^[0-9a-f]+$/);
  assert.equal(digest("--no-liftoff"), baseline);
});

Deno.test("the Adam(W) kernel gives the bytes of its float64 formula in JavaScript, odd sizes included", async () => {
  await initBackend("wasm");
  const hypers = ADAM_CASES;
  for (const [i, h] of hypers.entries()) {
    for (const n of [1, 7, 64, 1031]) {
      const [p, g, m] = [0, 1, 2].map((k) => values(n, 100 * i + k, 1));
      const v = values(n, 100 * i + 3, 1).map(Math.abs);
      const out = tf.tidy(() =>
        adamUpdate(tf.tensor1d(p!), tf.tensor1d(g!), tf.tensor1d(m!), tf.tensor1d(v), h).map((t) => tf.keep(t))
      );
      const [po, mo, vo] = out.map((t) => t.dataSync() as Float32Array);
      tf.dispose(out);
      // The formula as the TypeScript kernel it replaced computed it: float64, rounded once.
      const want = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
      for (let j = 0; j < n; j++) {
        const x = p![j]!;
        const grad = g![j]! * h.gradScale + h.l2 * x;
        const m2 = h.beta1 * m![j]! + (1 - h.beta1) * grad;
        const v2 = h.beta2 * v[j]! + (1 - h.beta2) * grad * grad;
        want[0]![j] = x * h.decayFactor - h.stepSize * m2 / (Math.sqrt(v2) / h.sqrtBias2 + h.eps);
        want[1]![j] = m2;
        want[2]![j] = v2;
      }
      assert.deepEqual([po, mo, vo].map((a) => new Uint8Array(a!.buffer)), want.map((a) => new Uint8Array(a.buffer)));
    }
  }
});

Deno.test("the moving-average kernel gives the bytes of tfjs's Mul, Mul and Add on wasm, odd sizes included", async () => {
  await initBackend("wasm");
  for (const d of [0.9998, 0.9, 0.5]) {
    for (const n of [1, 6, 65, 1031]) {
      const s = tf.tensor1d(values(n, 7, 1));
      const p = tf.tensor1d(values(n, 8, 2));
      const fused = tf.engine().runKernel(EMA_KERNEL, { s, p }, { decay: d }) as tf.Tensor;
      const ops = tf.add(tf.mul(s, d), tf.mul(p, 1 - d));
      assert.deepEqual(
        new Uint8Array((fused.dataSync() as Float32Array).buffer),
        new Uint8Array((ops.dataSync() as Float32Array).buffer),
        `decay ${d}, ${n} values`,
      );
      tf.dispose([s, p, fused, ops]);
    }
  }
});
