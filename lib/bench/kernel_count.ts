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
   * webgpu only: kernels whose outputs were computed on the CPU (tfjs-webgpu runs small ops on
   * inputs already on the CPU there), by kernel name.
   */
  cpuKernels?: Record<string, number>;
  /** webgpu only: transfers from the GPU to the CPU (each waits for the queue). */
  readBacks?: number;
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
  const counts: KernelCounts = { kernels: 0 };
  const cpu: Record<string, number> = {};
  const original = Object.getOwnPropertyDescriptor(engine, "runKernel");
  const run = engine.runKernel;
  engine.runKernel = function (name, inputs, attrs) {
    counts.kernels++;
    const out = run.call(this, name, inputs, attrs);
    if (webgpu) _noteCpuOutputs(webgpu, name, out, cpu);
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
    if (original) Object.defineProperty(engine, "runKernel", original);
    else delete (engine as Partial<_Engine>).runKernel;
    if (!webgpu) return counts;
    delete (webgpu as Partial<_WebgpuData>).getBufferData;
    return { ...counts, dispatches: webgpuDispatchCounter.count - dispatchesBefore, cpuKernels: cpu, readBacks };
  };
}

function _noteCpuOutputs(
  backend: _WebgpuData,
  name: string,
  out: tf.Tensor | tf.Tensor[],
  cpu: Record<string, number>,
) {
  for (const t of Array.isArray(out) ? out : [out]) {
    const data = backend.tensorMap.get(t.dataId);
    if (data && data.resource == null && data.values != null) {
      cpu[name] = (cpu[name] ?? 0) + 1;
      return;
    }
  }
}
