/**
 * Counts what a stretch of tfjs work costs in kernels, on any backend: the kernels the engine
 * runs, and on webgpu the GPU dispatches they became, the kernels that ran on the CPU instead and
 * the read-backs to the CPU.
 *
 * Why a counter of its own rather than `tf.profile`: profiling on webgpu times every kernel with
 * a query and a submit of its own, so it changes what it measures; this wraps the engine's and
 * the backend's entry points and does nothing else. Bench counts in an untimed step.
 */
import * as tf from "@tensorflow/tfjs-core";
import { webgpuDispatchCounter } from "../backend/webgpu_dispatch.ts";

/** What {@linkcode startKernelCount} counted. */
export interface KernelCounts {
  /** Kernels run through tfjs's engine (ops, their gradients, vitlab's fused kernels). */
  kernels: number;
  /** webgpu only: compute shaders dispatched (a kernel may dispatch none, one or several). */
  dispatches?: number;
  /**
   * webgpu only: kernels that took an input from the GPU and computed on the CPU, by name. Each
   * waits for the GPU and reads back mid-step: a bug, so empty is right.
   */
  cpuFallbacks?: Record<string, number>;
  /**
   * webgpu only: kernels that ran on the CPU on values still on the CPU (tfjs-webgpu computes
   * small ops on host data there: the seed gradient, drop-path masks); no read-back.
   */
  hostKernels?: number;
  /** webgpu only: transfers from the GPU to the CPU (each waits for the queue). */
  readBacks?: number;
  /**
   * Per kernel name: how often it ran and its own wall time in ms (the engine's bookkeeping
   * included, kernels it ran inside left out). On webgpu the time is the CPU side only: encoding
   * and dispatch, not the GPU's work.
   */
  byName: Record<string, { count: number; ms: number }>;
  /** Wall time from the start of counting to its stop, in ms: what the own times add up under. */
  wallMs: number;
}

interface _Engine {
  runKernel(name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap): tf.Tensor | tf.Tensor[];
}

interface _WebgpuData {
  tensorMap: { get(id: tf.DataId): { values: unknown; resource: unknown } | undefined };
  getBufferData(buffer: unknown): Promise<ArrayBuffer>;
}

/**
 * Starts counting on the active backend.
 * @returns a function that stops counting and returns the counts
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import { initBackend } from "../backend/backend.ts";
 * import { startKernelCount } from "./kernel_count.ts";
 * await initBackend("cpu");
 * const stop = startKernelCount();
 * tf.tidy(() => tf.add(tf.ones([2]), tf.ones([2])));
 * const counts = stop();
 * if (counts.kernels < 1) throw new Error("nothing counted");
 * ```
 */
export function startKernelCount(): () => KernelCounts {
  const engine = tf.engine() as unknown as _Engine;
  const webgpu = tf.getBackend() === "webgpu" ? (tf.backend() as unknown as _WebgpuData) : null;
  const counts: KernelCounts = { kernels: 0, byName: {}, wallMs: 0 };
  const started = performance.now();
  // Time spent in kernels run inside the current one, so that each kernel gets its own time only.
  const inner: number[] = [];
  const cpu: Record<string, number> = {};
  const host = { count: 0 };
  const original = Object.getOwnPropertyDescriptor(engine, "runKernel");
  const run = engine.runKernel;
  engine.runKernel = function (name, inputs, attrs) {
    counts.kernels++;
    const fromGpu = webgpu !== null && _anyOnGpu(webgpu, inputs);
    const t0 = performance.now();
    inner.push(0);
    let out: tf.Tensor | tf.Tensor[];
    try {
      out = run.call(this, name, inputs, attrs);
    } finally {
      const total = performance.now() - t0;
      const own = total - inner.pop()!;
      if (inner.length) inner[inner.length - 1]! += total;
      const entry = counts.byName[name] ??= { count: 0, ms: 0 };
      entry.count++;
      entry.ms += own;
    }
    if (webgpu && _anyOnCpuOnly(webgpu, out)) {
      if (fromGpu) cpu[name] = (cpu[name] ?? 0) + 1;
      else host.count++;
    }
    return out;
  };
  const dispatchesBefore = webgpuDispatchCounter.count;
  let readBacks = 0;
  const read = webgpu?.getBufferData;
  if (webgpu && read) {
    webgpu.getBufferData = function (buffer) {
      readBacks++;
      return read.call(this, buffer);
    };
  }
  return () => {
    counts.wallMs = performance.now() - started;
    if (original) Object.defineProperty(engine, "runKernel", original);
    else delete (engine as Partial<_Engine>).runKernel;
    if (!webgpu) return counts;
    delete (webgpu as Partial<_WebgpuData>).getBufferData;
    const dispatches = webgpuDispatchCounter.count - dispatchesBefore;
    return { ...counts, dispatches, cpuFallbacks: cpu, hostKernels: host.count, readBacks };
  };
}

function _anyOnGpu(backend: _WebgpuData, inputs: tf.NamedTensorMap): boolean {
  // AddN and Concat take an array: Object.values covers both forms.
  return Object.values(inputs).some((t) => t && backend.tensorMap.get(t.dataId)?.resource != null);
}

function _anyOnCpuOnly(backend: _WebgpuData, out: tf.Tensor | tf.Tensor[]): boolean {
  return (Array.isArray(out) ? out : [out]).some((t) => {
    const data = backend.tensorMap.get(t.dataId);
    return data !== undefined && data.resource == null && data.values != null;
  });
}
