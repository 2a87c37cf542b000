/**
 * Σ x² over many tensors at once: one fused kernel where the backend has it (wasm and blas,
 * {@linkcode ./wasm_kernels.ts}), else stack + sum in tfjs ops.
 *
 * Why: the global gradient norm took two kernels per variable (~160 a step on a ViT) plus the
 * stack; fused it is one, adding every value in a fixed order in float64.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel name of the fused reduction (registered for the wasm backend). */
export const SUM_SQUARES_KERNEL = "VitlabSumOfSquares";

/**
 * @param tensors float32 tensors of any shapes
 * @returns Σ over all their values of x², a scalar
 */
export function sumOfSquares(tensors: tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  if (tf.getKernel(SUM_SQUARES_KERNEL, tf.getBackend())) {
    const inputs = Object.fromEntries(tensors.map((t, i) => [String(i), t]));
    return tf.engine().runKernel(SUM_SQUARES_KERNEL, inputs) as tf.Scalar;
  }
  // stack + sum rather than addN: tfjs-webgpu's AddN over this many scalars returned 0.
  return tf.tidy(() => tf.sum(tf.stack(tensors.map((t) => tf.sum(tf.square(t))))) as tf.Scalar);
}
