/**
 * One Adam(W) update of one variable: one fused kernel where the backend has it (wasm and blas,
 * {@linkcode ./wasm_kernels.ts}), else the same formula in tfjs ops.
 *
 * Why: written in tfjs ops, an update is about a dozen kernels and as many scalar uploads per
 * variable, and a ViT has ~80 variables: the optimizer alone was ~1,000 engine dispatches a step.
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel name of the fused update (registered for the wasm backend). */
export const ADAM_KERNEL = "VitlabAdamUpdate";

/** The scalars of one update. */
export interface AdamHyper {
  /** Step size, already divided by the first moment's bias correction 1 − β1^t. */
  stepSize: number;
  beta1: number;
  beta2: number;
  /** √(1 − β2^t), the second moment's bias correction. */
  sqrtBias2: number;
  eps: number;
  /** Gradient multiplier (clipping): g ← g·gradScale first. */
  gradScale: number;
  /** Coupled L2 (Adam): g ← g + l2·p. 0 for none. */
  l2: number;
  /** Decoupled decay (AdamW): p ← p·decayFactor before the step. 1 for none. */
  decayFactor: number;
}

/**
 * m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p·decayFactor − stepSize·m/(√v/sqrtBias2 + eps),
 * with g ← g·gradScale + l2·p first.
 * @param p the variable's value
 * @param g its gradient
 * @param m first moment
 * @param v second moment
 * @param h the update's scalars
 * @returns new p, m and v (new tensors; the caller assigns them)
 */
export function adamUpdate(
  p: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  h: AdamHyper,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  if (tf.getKernel(ADAM_KERNEL, tf.getBackend())) {
    const attrs = { ...h } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(ADAM_KERNEL, { p, g, m, v }, attrs) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
  }
  return tf.tidy(() => {
    const scaled = h.gradScale !== 1 ? tf.mul(g, h.gradScale) : g;
    const grad = h.l2 > 0 ? tf.add(scaled, tf.mul(p, h.l2)) : scaled;
    const m2 = tf.add(tf.mul(m, h.beta1), tf.mul(grad, 1 - h.beta1));
    const v2 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(grad), 1 - h.beta2));
    const denom = tf.add(tf.div(tf.sqrt(v2), h.sqrtBias2), h.eps);
    const base = h.decayFactor !== 1 ? tf.mul(p, h.decayFactor) : p;
    return [tf.sub(base, tf.mul(tf.div(m2, denom), h.stepSize)), m2, v2];
  });
}
