/**
 * The shapes vitlab's own kernels see: tfjs's kernel arguments, and the parts of tfjs's wasm
 * backend (not in its public typings) that the wasm, blas and SIMD kernels use.
 */
import type * as tf from "@tensorflow/tfjs-core";

/** What tfjs passes a kernel function. */
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** A kernel function, with the arguments typed as {@linkcode KernelArgs}. */
export type KernelFn = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/** The wasm backend's internals the kernels use: its heap, its allocator and its tensors' memory. */
export interface WasmInternals {
  /** The Emscripten module: its exports hold the heap's `WebAssembly.Memory`. */
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(at: number): void };
  /** A view of a tensor's values where they live in the heap. */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  /** A new output tensor, allocated in the heap. */
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  /** Shares a tensor's buffer with one more tensor. */
  incRef(dataId: tf.DataId): void;
}
