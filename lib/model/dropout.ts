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
  const seed = _seed(rate, ctx);
  return seed === null ? x : tf.dropout(x, rate, noiseShape, seed);
}

/** The next mask seed while training at a positive rate; null when dropout is off. */
function _seed(rate: number, ctx: ForwardContext): number | null {
  if (!ctx.training || rate <= 0) return null;
  if (!ctx.rng) throw new Error("dropout in training needs ctx.rng");
  return ctx.rng.seed();
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

/**
 * Drop-path's per-image multipliers, for a kernel that applies them itself (the fused block): the
 * values {@linkcode dropPath} multiplies by, from the same draw of the context's stream (tf.dropout's
 * floor(u + keep)/keep in float32 over a [B, 1, 1] uniform draw).
 * @param b images
 * @param rate drop probability of this block
 * @param ctx forward context
 * @returns each image's multiplier (0 or 1/keep); null when drop-path is off
 */
export function dropPathScales(b: number, rate: number, ctx: ForwardContext): Float32Array | null {
  const seed = _seed(rate, ctx);
  if (seed === null) return null;
  const u = tf.tidy(() => tf.randomUniform([b, 1, 1], 0, 1, "float32", seed).dataSync());
  const keep = Math.fround(1 - rate);
  return Float32Array.from(u, (v) => Math.floor(Math.fround(v + keep)) / keep);
}
