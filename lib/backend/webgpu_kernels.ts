/**
 * Kernels vitlab adds to, or wraps in, tfjs's webgpu backend:
 * - The Adam(W) update ({@linkcode ./adam_update.ts}) as one WGSL shader per variable writing p,
 *   m and v, where tfjs ops took ~14 dispatches and as many scalar uploads per variable.
 * - The sum of squares behind the global gradient norm ({@linkcode ./sum_squares.ts}) as one
 *   shader per group of gradients (as many as the device binds at once), each adding its
 *   group's Σx² to the running total of the group before: a handful of dispatches per step
 *   instead of two per variable plus a stack.
 * - `AddN` over more tensors than a shader may bind: tfjs-webgpu binds them all in one shader,
 *   which the device rejects (WebGPU's default is 8 storage buffers per stage), and a rejected
 *   shader invalidates every command submitted with it. Here the sum goes in groups that fit.
 * Same kernel names and attributes as the wasm backend's, so callers do not change. Sums run in
 * float32 (the wasm kernels use float64): webgpu promises agreement within 1e-3, not bits.
 */
import * as tf from "@tensorflow/tfjs-core";
import { ADAM_KERNEL, type AdamHyper } from "./adam_update.ts";
import type { KernelArgs as _Args, KernelFn as _KernelFunc } from "./kernel_types.ts";
import { SUM_SQUARES_KERNEL } from "./sum_squares.ts";
import { dispatchWgsl, type WebgpuInternals } from "./webgpu_dispatch.ts";

/** Threads per workgroup of the elementwise shader (WebGPU's guaranteed minimum is 256). */
const _WG = 64;
/** Threads of the single workgroup that reduces a group of gradients. */
const _REDUCE_WG = 256;

let _originalAddN: tf.KernelConfig | null = null;

/** Registers vitlab's webgpu kernels; idempotent. */
export function registerWebgpuKernels(): void {
  if (_originalAddN) return;
  _originalAddN = tf.getKernel("AddN", "webgpu") ?? null;
  for (
    const [name, fn] of [["AddN", _addN], [ADAM_KERNEL, _adamUpdate], [SUM_SQUARES_KERNEL, _sumOfSquares]] as const
  ) {
    if (tf.getKernel(name, "webgpu")) tf.unregisterKernel(name, "webgpu");
    tf.registerKernel({ kernelName: name, backendName: "webgpu", kernelFunc: fn as tf.KernelFunc });
  }
}

/** Storage buffers one shader may bind on this device (outputs and inputs together). */
function _maxStorage(backend: WebgpuInternals): number {
  return backend.device.limits.maxStorageBuffersPerShaderStage;
}

const _ADAM: { key: string; code: string } = {
  key: "VitlabAdamUpdate",
  code: `
struct U { n: u32, stepSize: f32, beta1: f32, beta2: f32, sqrtBias2: f32, eps: f32, gradScale: f32, l2: f32,
  decayFactor: f32 }
@group(0) @binding(0) var<storage, read_write> pOut: array<f32>;
@group(0) @binding(1) var<storage, read_write> mOut: array<f32>;
@group(0) @binding(2) var<storage, read_write> vOut: array<f32>;
@group(0) @binding(3) var<storage, read> p: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read> m: array<f32>;
@group(0) @binding(6) var<storage, read> v: array<f32>;
@group(0) @binding(7) var<uniform> u: U;
@compute @workgroup_size(${_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // A grid-stride loop: any size fits in the 65,535 workgroups one dimension may have.
  for (var i = gid.x; i < u.n; i = i + nwg.x * ${_WG}u) {
    let x = p[i];
    let grad = g[i] * u.gradScale + u.l2 * x;
    let m2 = u.beta1 * m[i] + (1.0 - u.beta1) * grad;
    let v2 = u.beta2 * v[i] + (1.0 - u.beta2) * grad * grad;
    mOut[i] = m2;
    vOut[i] = v2;
    pOut[i] = x * u.decayFactor - u.stepSize * m2 / (sqrt(v2) / u.sqrtBias2 + u.eps);
  }
}`,
};

/** {@linkcode adamUpdate}'s formula, one thread per value. */
function _adamUpdate({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
  const h = attrs as unknown as AdamHyper;
  const n = tf.util.sizeFromShape(p.shape);
  const f = (value: number) => ({ type: "float32" as const, value });
  const uniforms = [
    { type: "uint32" as const, value: n },
    ...[h.stepSize, h.beta1, h.beta2, h.sqrtBias2, h.eps, h.gradScale, h.l2, h.decayFactor].map(f),
  ];
  const shapes = [p, m, v].map((t) => [...t.shape]);
  return dispatchWgsl(
    backend as WebgpuInternals,
    _ADAM,
    [p, g, m, v],
    shapes,
    uniforms,
    Math.min(65535, Math.ceil(n / _WG)),
  );
}

/**
 * WGSL that sums x² over `k` inputs in one workgroup, plus `acc[0]` (the previous group's total)
 * unless it is the first group.
 * @param k inputs in the group
 * @param first whether no total comes before
 */
function _sumSquaresShader(k: number, first: boolean): { key: string; code: string } {
  const xs = Array.from({ length: k }, (_, j) => j);
  const at = first ? 1 : 2;
  return {
    key: `VitlabSumOfSquares${k}${first ? "" : "+"}`,
    code: `
struct U { ${xs.map((j) => `n${j}: u32`).join(", ")} }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${first ? "" : "@group(0) @binding(1) var<storage, read> acc: array<f32>;"}
${xs.map((j) => `@group(0) @binding(${j + at}) var<storage, read> x${j}: array<f32>;`).join("\n")}
@group(0) @binding(${k + at}) var<uniform> u: U;
var<workgroup> part: array<f32, ${_REDUCE_WG}>;
@compute @workgroup_size(${_REDUCE_WG})
fn main(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
${
      xs.map((j) => `  for (var i = li; i < u.n${j}; i = i + ${_REDUCE_WG}u) { let a = x${j}[i]; s = s + a * a; }`)
        .join("\n")
    }
  part[li] = s;
  workgroupBarrier();
  for (var w = ${_REDUCE_WG / 2}u; w > 0u; w = w / 2u) {
    if (li < w) { part[li] = part[li] + part[li + w]; }
    workgroupBarrier();
  }
  if (li == 0u) { out[0] = ${first ? "" : "acc[0] + "}part[0]; }
}`,
  };
}

/** Σ x² over every input, in input order: one dispatch per group of inputs the device can bind. */
function _sumOfSquares({ inputs, backend }: _Args): tf.TensorInfo {
  const be = backend as WebgpuInternals & tf.KernelBackend;
  const list = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k] as tf.TensorInfo);
  // Bindings: the output, the running total, the group (uniforms are not storage buffers).
  const group = Math.max(1, _maxStorage(be) - 2);
  let acc: tf.TensorInfo | null = null;
  for (let start = 0; start < list.length; start += group) {
    const xs = list.slice(start, start + group);
    const uniforms = xs.map((x) => ({ type: "uint32" as const, value: tf.util.sizeFromShape(x.shape) }));
    const shader = _sumSquaresShader(xs.length, acc === null);
    const [next] = dispatchWgsl(be, shader, acc ? [acc, ...xs] : xs, [[]], uniforms, 1);
    if (acc) be.disposeData(acc.dataId);
    acc = next!;
  }
  return acc!;
}

/** tfjs's AddN, in groups of as many inputs as one shader may bind, then over the groups' sums. */
function _addN(args: _Args): tf.TensorInfo {
  const be = args.backend as WebgpuInternals & tf.KernelBackend;
  const original = _originalAddN!.kernelFunc as _KernelFunc;
  // AddN takes its inputs as an array (tfjs-core's addN passes one).
  let list = args.inputs as unknown as tf.TensorInfo[];
  const most = Math.max(2, _maxStorage(be) - 1);
  const temporaries: tf.TensorInfo[] = [];
  while (list.length > most) {
    const sums: tf.TensorInfo[] = [];
    for (let i = 0; i < list.length; i += most) {
      const part = list.slice(i, i + most);
      if (part.length === 1) sums.push(part[0]!);
      else sums.push(original({ ...args, inputs: part as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo);
    }
    temporaries.push(...sums.filter((s) => !list.includes(s)));
    list = sums;
  }
  const out = original({ ...args, inputs: list as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
  for (const t of temporaries) be.disposeData(t.dataId);
  return out;
}
