/**
 * One pass of a model over a split that keeps what the pictures need: every example's
 * prediction and confidence, each head's attention distance summed over the split, and the
 * attention maps of the few images drawn. Attention comes from the model's own forward pass.
 */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import { makeBatch, type Normalization } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import type { ForwardContext } from "../model/context.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { attentionDistanceSums, patchDistances } from "./distance.ts";

/** What {@linkcode collectSplit} gathers. */
export interface SplitPass {
  /** Examples run: the first `count` of the split. */
  count: number;
  /** [count] argmax of the logits, as `eval` counts a hit. */
  predictions: Int32Array;
  /** [count] softmax probability of the predicted class. */
  confidence: Float32Array;
  /** [depth, H] mean attention distance in pixels, over the examples and their query patches. */
  distance: Float64Array;
  /** For each drawn position: one [H, T, T] array per block, first block first. */
  attention: Map<number, Float32Array[]>;
}

/**
 * Runs the model in evaluation mode over the first `count` examples, batch by batch.
 * @param model the model, weights loaded
 * @param set the split
 * @param norm per-channel normalisation
 * @param options `batchSize`, `count`, and `drawn`: positions whose attention maps to keep
 * @returns predictions, confidences, attention distances and the drawn maps
 */
export async function collectSplit(
  model: VisionTransformer,
  set: ImageSet,
  norm: Normalization,
  options: { batchSize: number; count: number; drawn: readonly number[] },
): Promise<SplitPass> {
  const { batchSize, count } = options;
  const { depth, heads } = model.shape;
  const g = model.patchEmbed.gridSize;
  const distances = tf.tensor2d(patchDistances(g, model.patchEmbed.patchSize), [g * g, g * g]);
  const pass: SplitPass = {
    count,
    predictions: new Int32Array(count),
    confidence: new Float32Array(count),
    distance: new Float64Array(depth * heads),
    attention: new Map(),
  };
  try {
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      await _batch(model, set, norm, distances, pass, start, end, options.drawn);
    }
  } finally {
    distances.dispose();
  }
  const perHead = Math.max(1, count * g * g);
  for (let i = 0; i < pass.distance.length; i++) pass.distance[i]! /= perHead;
  return pass;
}

async function _batch(
  model: VisionTransformer,
  set: ImageSet,
  norm: Normalization,
  distances: tf.Tensor2D,
  pass: SplitPass,
  start: number,
  end: number,
  drawn: readonly number[],
): Promise<void> {
  const ctx: ForwardContext = { training: false, attention: [] };
  const local = drawn.filter((i) => i >= start && i < end).map((i) => i - start);
  try {
    const out = tf.tidy(() => {
      const { x } = makeBatch(set, Int32Array.from({ length: end - start }, (_, i) => start + i), norm);
      const logits = model.apply(x, ctx); // [B, K]
      const maps = ctx.attention!;
      return {
        predictions: tf.argMax(logits, 1), // [B]
        confidence: tf.max(tf.softmax(logits), 1), // [B]
        distance: tf.stack(maps.map((a) => attentionDistanceSums(a, distances))), // [depth, H]
        // [depth, n, H, T, T]; empty when no drawn image is in this batch.
        drawn: local.length ? tf.stack(maps.map((a) => tf.gather(a, local))) : tf.zeros([0]),
      };
    });
    const [p, c, d, m] = await Promise.all([
      out.predictions.data(),
      out.confidence.data(),
      out.distance.data(),
      local.length ? out.drawn.data() : null,
    ]);
    tf.dispose(out);
    pass.predictions.set(p as Int32Array, start);
    pass.confidence.set(c as Float32Array, start);
    for (let i = 0; i < d.length; i++) pass.distance[i]! += d[i]!;
    if (m) _keepMaps(pass, m as Float32Array, local, start, model.shape.depth);
  } finally {
    tf.dispose(ctx.attention!);
  }
}

/** Splits [depth, n, H, T, T] into each drawn image's per-block [H, T, T] arrays. */
function _keepMaps(pass: SplitPass, maps: Float32Array, local: number[], start: number, depth: number): void {
  const size = maps.length / (depth * local.length); // H·T·T
  local.forEach((li, n) => {
    const layers = Array.from(
      { length: depth },
      (_, l) => maps.slice((l * local.length + n) * size, (l * local.length + n + 1) * size),
    );
    pass.attention.set(start + li, layers);
  });
}
