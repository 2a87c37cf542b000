/** Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_. */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Scales all gradients by min(1, maxNorm / (‖g‖ + 1e-6)). Stays on the device: no read-back.
 * @param grads gradients keyed by variable name
 * @param maxNorm the bound; 0 or less returns the gradients unchanged
 * @returns clipped gradients and the global norm before clipping (scalar)
 */
export function clipByGlobalNorm(
  grads: tf.NamedTensorMap,
  maxNorm: number,
): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  const names = Object.keys(grads);
  // stack + sum rather than addN: tfjs-webgpu's AddN over this many scalars returned 0.
  const norm = tf.sqrt(tf.sum(tf.stack(names.map((n) => tf.sum(tf.square(grads[n]!)))))) as tf.Scalar;
  if (maxNorm <= 0) return { grads, norm };
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  const out: tf.NamedTensorMap = {};
  for (const n of names) out[n] = tf.mul(grads[n]!, scale);
  return { grads: out, norm };
}
