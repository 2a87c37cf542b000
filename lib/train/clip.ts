/** Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_. */
import * as tf from "@tensorflow/tfjs-core";
import { sumOfSquares } from "../backend/sum_squares.ts";

/**
 * @param grads gradients keyed by variable name
 * @returns ‖g‖ over all of them (scalar, on the device)
 */
export function globalNorm(grads: tf.NamedTensorMap): tf.Scalar {
  return tf.tidy(() => tf.sqrt(sumOfSquares(Object.values(grads))));
}

/**
 * @param norm the global gradient norm
 * @param maxNorm the bound; 0 or less turns clipping off
 * @returns the factor torch applies to every gradient: min(1, maxNorm / (norm + 1e-6)), or 1
 */
export function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
}

/**
 * Scales all gradients by {@linkcode clipScale}, on the device: no read-back. (The trainer
 * reads the norm anyway and hands the factor to the optimizer instead.)
 * @param grads gradients keyed by variable name
 * @param maxNorm the bound; 0 or less returns the gradients unchanged
 * @returns clipped gradients and the global norm before clipping (scalar)
 */
export function clipByGlobalNorm(
  grads: tf.NamedTensorMap,
  maxNorm: number,
): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  const norm = globalNorm(grads);
  if (maxNorm <= 0) return { grads, norm };
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  const out: tf.NamedTensorMap = {};
  for (const [n, g] of Object.entries(grads)) out[n] = tf.mul(g, scale);
  return { grads: out, norm };
}
