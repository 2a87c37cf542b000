/** Dropout and drop-path (stochastic depth), active only in training, seeded from the context. */
import * as tf from "@tensorflow/tfjs-core";
import type { ForwardContext } from "./context.ts";

/**
 * Inverted dropout: zeroes a share `rate` of values and scales the rest by 1/(1−rate).
 * @param x any tensor
 * @param rate drop probability
 * @param ctx forward context; identity unless training
 * @param noiseShape mask shape broadcast over x (drop-path uses [B, 1, 1])
 * @returns x with the mask applied
 */
export function dropout(x: tf.Tensor, rate: number, ctx: ForwardContext, noiseShape?: number[]): tf.Tensor {
  if (!ctx.training || rate <= 0) return x;
  if (!ctx.rng) throw new Error("dropout in training needs ctx.rng");
  return tf.dropout(x, rate, noiseShape, ctx.rng.seed());
}

/**
 * Stochastic depth: drops a whole residual branch per example.
 * @param x [B, T, D] branch output
 * @param rate drop probability of this block
 * @param ctx forward context
 * @returns x, with some examples' branches zeroed and the rest scaled by 1/(1−rate)
 */
export function dropPath(x: tf.Tensor3D, rate: number, ctx: ForwardContext): tf.Tensor3D {
  return dropout(x, rate, ctx, [x.shape[0], 1, 1]) as tf.Tensor3D;
}
