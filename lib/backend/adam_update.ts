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
/**
 * Every variable's update in one kernel: inputs `p0`, `g0`, `m0`, `v0`, `p1`, …; attr `hypers`,
 * one {@linkcode AdamHyper} per variable; outputs new p, m and v of each, in order.
 */
export const ADAM_ALL_KERNEL = "VitlabAdamUpdateAll";

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

/** One variable's operands for {@linkcode adamUpdateAll}. */
export interface AdamItem {
  p: tf.Tensor;
  g: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
  h: AdamHyper;
}

/**
 * {@linkcode adamUpdate} of every variable of a step, in one kernel where the backend has it
 * (the same arithmetic per variable, so the same bytes, and one engine dispatch instead of ~80).
 * @param items each variable's value, gradient, moments and scalars
 * @returns new p, m and v of each, in order (new tensors; the caller assigns them)
 */
export function adamUpdateAll(items: readonly AdamItem[]): [tf.Tensor, tf.Tensor, tf.Tensor][] {
  if (items.length === 0 || !tf.getKernel(ADAM_ALL_KERNEL, tf.getBackend())) {
    return items.map((it) => adamUpdate(it.p, it.g, it.m, it.v, it.h));
  }
  const inputs: tf.NamedTensorMap = {};
  items.forEach((it, i) =>
    Object.assign(inputs, { [`p${i}`]: it.p, [`g${i}`]: it.g, [`m${i}`]: it.m, [`v${i}`]: it.v })
  );
  const attrs = { hypers: items.map((it) => it.h) } as unknown as tf.NamedAttrMap;
  const out = tf.engine().runKernel(ADAM_ALL_KERNEL, inputs, attrs) as unknown as tf.Tensor[];
  return items.map((_, i) => [out[3 * i]!, out[3 * i + 1]!, out[3 * i + 2]!]);
}
