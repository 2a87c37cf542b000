/**
 * A 2-D matrix multiply whose forward and backward passes use only flag-free `tf.matMul`.
 *
 * Why: the wasm backend sends a matMul to XNNPACK only when it has no transpose flags and a
 * batch of 1; otherwise it runs a naive loop. The gradients of a plain `tf.matMul(a, b)` use
 * transpose flags, so training fell onto the slow path. Explicit `tf.transpose` plus flag-free
 * products keeps every linear layer's forward and backward on the fast path (about 3.4× per
 * step on wasm, identical losses; ../shared/NOTES.md). Other backends lose nothing measurable.
 */
import * as tf from "@tensorflow/tfjs-core";
import "./gradients.ts";
import { activeTraits } from "./traits.ts";

// customGrad's typing passes inputs and the save function as one union-typed rest list.
const _matMul2d = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const g = matMul2dGrads(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D);
      return [g.a(), g.b()];
    },
  };
});

/**
 * The gradients of `a · b`, each computed when asked for (a fused layer's gradient asks only for
 * those the tape needs).
 * @param dy [M, N]
 * @param a [M, K]
 * @param b [K, N]
 * @returns a's [M, K] and b's [K, N]
 */
export function matMul2dGrads(
  dy: tf.Tensor2D,
  a: tf.Tensor2D,
  b: tf.Tensor2D,
): { a: () => tf.Tensor2D; b: () => tf.Tensor2D } {
  // dA [M,K] = dy [M,N] · Bᵀ [N,K]; dB [K,N] = Aᵀ [K,M] · dy [M,N]
  if (activeTraits().transposeFlagsFree) {
    return { a: () => tf.matMul(dy, b, false, true), b: () => tf.matMul(a, dy, true, false) };
  }
  return { a: () => tf.matMul(dy, tf.transpose(b)), b: () => tf.matMul(tf.transpose(a), dy) };
}

/**
 * `a · b` for 2-D tensors, with a gradient that stays on the backends' fast path.
 * @param a [M, K]
 * @param b [K, N]
 * @returns [M, N]
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return _matMul2d(a, b) as tf.Tensor2D;
}
