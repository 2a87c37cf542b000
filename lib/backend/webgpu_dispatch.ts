/**
 * Runs a WGSL compute shader of vitlab's own inside tfjs-webgpu's command stream: same command
 * encoder and compute pass as tfjs's kernels, same deferred submit, same buffer pool.
 *
 * Why not tfjs's `runWebGPUProgram`: its programs have one output, and the fused Adam(W) update
 * writes three (p, m, v); three programs would read every input three times and triple the
 * dispatches. This follows tfjs-webgpu 4.22.0's `recordAndSubmit` step for step (the version
 * is pinned in deno.json), with the bindings it cannot express.
 *
 * Imports no tfjs-webgpu code, so modules that only count dispatches stay light.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Compute shaders dispatched on webgpu since the process started, tfjs's and vitlab's. */
export const webgpuDispatchCounter: { count: number } = { count: 0 };

/** The parts of tfjs-webgpu's WebGPUBackend (4.22.0) a dispatch goes through. */
export interface WebgpuInternals {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<tf.DataId>;
  dispatchCountInPass: number;
  activeTimers: { name: string; query: Promise<number> }[] | null;
  tensorMap: { get(id: tf.DataId): { resource: GPUBuffer | null } };
  makeTensorInfo(shape: number[], dtype: "float32"): tf.TensorInfo;
  uploadToGPU(id: tf.DataId): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  makeUniforms(u: { type: "float32" | "uint32"; data: number[] }[]): GPUBufferBinding;
}

/** A shader: bindings are the outputs, then the inputs, then one uniform struct of scalars. */
export interface WgslShader {
  /** Names the shader in profiles and caches its pipeline. */
  key: string;
  /** WGSL with `@compute fn main`. */
  code: string;
}

/** The scalars of a dispatch, in the uniform struct's field order. */
export type WgslUniform = { type: "float32" | "uint32"; value: number };

const _pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Records one dispatch of `shader` in the backend's current compute pass.
 * @param backend tfjs's active webgpu backend
 * @param shader the shader and its cache key
 * @param inputs tensors read by the shader (bound after the outputs)
 * @param outputShapes shapes of the float32 outputs it writes (bound first)
 * @param uniforms scalars (bound last); at least one
 * @param workgroups how many workgroups along x
 * @returns the new outputs, owned by the caller
 */
export function dispatchWgsl(
  backend: WebgpuInternals,
  shader: WgslShader,
  inputs: tf.TensorInfo[],
  outputShapes: number[][],
  uniforms: WgslUniform[],
  workgroups: number,
): tf.TensorInfo[] {
  const outputs = outputShapes.map((shape) => backend.makeTensorInfo(shape, "float32"));
  for (const t of [...outputs, ...inputs]) backend.uploadToGPU(t.dataId);
  const pipeline = _pipeline(backend.device, shader);
  const buffers = [...outputs, ...inputs].map((t) => ({ buffer: backend.tensorMap.get(t.dataId).resource! }));
  const uniform = backend.makeUniforms(uniforms.map((u) => ({ type: u.type, data: [u.value] })));
  // Until the next submit these buffers must not return to the pool (tfjs defers their release).
  for (const t of [...outputs, ...inputs]) backend.commandQueueOwnedIds.add(t.dataId);
  const bindGroup = backend.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...buffers, uniform].map((resource, binding) => ({ binding, resource })),
  });
  backend.ensureCommandEncoderReady();
  backend.computePassEncoder ??= backend.commandEncoder!.beginComputePass({});
  backend.computePassEncoder.setPipeline(pipeline);
  backend.computePassEncoder.setBindGroup(0, bindGroup);
  backend.computePassEncoder.dispatchWorkgroups(Math.max(1, workgroups));
  backend.dispatchCountInPass++;
  webgpuDispatchCounter.count++;
  const profiling = backend.activeTimers !== null && backend.activeTimers !== undefined;
  if (profiling || backend.dispatchCountInPass >= tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE")) {
    backend.endComputePassEncoder();
    // tf.profile reads a time per kernel: vitlab's shaders report none rather than a wrong one.
    if (profiling) backend.activeTimers!.push({ name: shader.key, query: Promise.resolve(0) });
    backend.submitQueue();
  }
  return outputs;
}

function _pipeline(device: GPUDevice, shader: WgslShader): GPUComputePipeline {
  let cache = _pipelines.get(device);
  if (!cache) _pipelines.set(device, cache = new Map());
  let pipeline = cache.get(shader.key);
  if (!pipeline) {
    const module = device.createShaderModule({ label: shader.key, code: shader.code });
    pipeline = device.createComputePipeline({
      label: shader.key,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    cache.set(shader.key, pipeline);
  }
  return pipeline;
}
