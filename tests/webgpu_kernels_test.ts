/**
 * vitlab's WGSL kernels against the reference arithmetic (in float64 here), the dispatches they
 * take, and a device error surfacing at the next read-back instead of as wrong numbers.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/backend.ts";
import { type AdamHyper, adamUpdate } from "../lib/backend/adam_update.ts";
import { sumOfSquares } from "../lib/backend/sum_squares.ts";
import { checkedBackend, webgpuApi } from "../lib/backend/webgpu.ts";
import { webgpuDispatchCounter } from "../lib/backend/webgpu_dispatch.ts";
import { BackendError } from "../lib/errors.ts";
import { Rng } from "../lib/random.ts";
import { tinyConfig } from "./_helpers.ts";

await initBackend("webgpu");
const rng = Rng.fromSeed(3, "webgpu-kernels");
const random = (shape: number[], scale = 1) =>
  tf.tensor(Float32Array.from({ length: tf.util.sizeFromShape(shape) }, () => (rng.float() * 2 - 1) * scale), shape);
const close = (got: number, want: number, what: string, tol = 1e-5) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);

Deno.test("webgpu AdamW kernel: one dispatch per variable, p, m and v as the reference formula", async () => {
  // Clipping, coupled L2 and decoupled decay all at once, on a size that is not a multiple of 64.
  const h: AdamHyper = {
    stepSize: 2e-3,
    beta1: 0.9,
    beta2: 0.999,
    sqrtBias2: 0.0447,
    eps: 1e-8,
    gradScale: 0.6,
    l2: 0.01,
    decayFactor: 0.9995,
  };
  const [p, g, m] = [random([37, 129]), random([37, 129], 3), random([37, 129], 0.1)];
  const v = tf.abs(random([37, 129], 0.01));
  const before = webgpuDispatchCounter.count;
  const out = adamUpdate(p, g, m, v, h);
  assert.equal(webgpuDispatchCounter.count - before, 1);
  const [pv, gv, mv, vv, po, mo, vo] = await Promise.all([p, g, m, v, ...out].map((t) => t.data()));
  for (let i = 0; i < pv!.length; i++) {
    const x = pv![i]!;
    const grad = gv![i]! * h.gradScale + h.l2 * x;
    const m2 = h.beta1 * mv![i]! + (1 - h.beta1) * grad;
    const v2 = h.beta2 * vv![i]! + (1 - h.beta2) * grad * grad;
    close(mo![i]!, m2, `m[${i}]`);
    close(vo![i]!, v2, `v[${i}]`);
    close(po![i]!, x * h.decayFactor - h.stepSize * m2 / (Math.sqrt(v2) / h.sqrtBias2 + h.eps), `p[${i}]`);
  }
  tf.dispose([p, g, m, v, ...out]);
});

Deno.test("webgpu sum of squares: Σx² over many tensors in a few dispatches, as the reference sum", async () => {
  const before = tf.memory().numTensors;
  // 70 tensors: more than one shader may bind, so the sum runs in groups that carry a total.
  const xs = Array.from({ length: 70 }, (_, i) => random(i % 7 === 0 ? [5001] : [i + 1, 3], 2));
  const values = await Promise.all(xs.map((t) => t.data()));
  const want = values.reduce((s, v) => s + Array.from(v as Float32Array).reduce((a, x) => a + x * x, 0), 0);
  const limit = (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBuffersPerShaderStage;
  const dispatches = webgpuDispatchCounter.count;
  const total = sumOfSquares(xs);
  assert.equal(webgpuDispatchCounter.count - dispatches, Math.ceil(70 / (limit - 2)));
  close((await total.data())[0]!, want, "Σx²", 1e-5);
  tf.dispose([total, ...xs]);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("webgpu AddN over more tensors than a shader binds adds them all", async () => {
  const xs = Array.from({ length: 70 }, (_, i) => tf.fill([1100], i + 1));
  const sum = tf.addN(xs);
  const got = await sum.data();
  assert.ok(got.every((v) => v === (70 * 71) / 2), `AddN read back ${got[0]}`);
  tf.dispose([sum, ...xs]);
});

Deno.test("webgpu: an error the device reports fails the next read-back with its message", async () => {
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  const adapter = (await webgpuApi().requestAdapter())!;
  const device = await adapter.requestDevice();
  const backend = checkedBackend(WebGPUBackend, device, adapter.info);
  const id = backend.write(new Float32Array(2048).fill(1), [2048], "float32");
  backend.uploadToGPU(id);
  assert.equal((await backend.read(id) as Float32Array)[0], 1, "reads right before any error");
  const id2 = backend.write(new Float32Array(2048).fill(2), [2048], "float32");
  backend.uploadToGPU(id2);
  // MAP_READ with MAP_WRITE is invalid: the device reports a validation error, throws nothing.
  device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.MAP_WRITE });
  await assert.rejects(backend.read(id2), (e: Error) => {
    assert.ok(e instanceof BackendError, String(e));
    assert.match(e.message, /^webgpu: the device reported an error, so results are wrong: .+/);
    return true;
  });
  backend.dispose();
});

Deno.test("a webgpu training step: fused optimizer, one read-back, no kernel falls back to the CPU", async () => {
  const { benchTraining } = await import("../lib/bench/bench.ts");
  const config = tinyConfig(["model.drop_path=0.1", "train.batch_size=8"]);
  const cpu = await benchTraining(config, { backend: "cpu", steps: 1, warmup: 1 });
  const gpu = await benchTraining(config, { backend: "webgpu", steps: 1, warmup: 1 });
  // cpu runs the update and the norm as tfjs ops (~14 kernels per variable): fused, far fewer.
  assert.ok(gpu.kernels_per_step < 0.7 * cpu.kernels_per_step, `${gpu.kernels_per_step} vs ${cpu.kernels_per_step}`);
  assert.equal(gpu.read_backs_per_step, 1, "only the step's loss, correct count and norm, read together");
  assert.deepEqual(gpu.cpu_fallbacks, {}, "no kernel takes a GPU input to the CPU");
  // Small ops on host data (the seed gradient, drop-path masks, this tiny batch) may run there.
  assert.ok(gpu.host_kernels! >= 1, "host-side kernels are told apart, not hidden");
  assert.ok(gpu.dispatches_per_step! > 0);
});
