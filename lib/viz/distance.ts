/**
 * Mean attention distance (ViT paper, figure 7 right): how far, in pixels, each head looks from
 * the patch that asks. Low in some heads of early layers (local, like a convolution), high in
 * late layers (global).
 */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Distances in pixels between the centres of every two patches of the grid.
 * @param grid patches along a side
 * @param patchSize side of a patch in pixels
 * @returns [N, N] with N = grid², row-major over the grid
 * @example
 * ```ts
 * import { patchDistances } from "./distance.ts";
 * const d = patchDistances(2, 4); // patches (0,0) (0,1) (1,0) (1,1), 4 pixels apart
 * if (d[1] !== 4 || Math.abs(d[3]! - Math.hypot(4, 4)) > 1e-5 || d[0] !== 0) throw new Error("wrong");
 * ```
 */
export function patchDistances(grid: number, patchSize: number): Float32Array {
  const n = grid * grid;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / grid) - Math.floor(j / grid);
      const dx = (i % grid) - (j % grid);
      out[i * n + j] = Math.hypot(dx, dy) * patchSize;
    }
  }
  return out;
}

/**
 * Each head's attention distance summed over images and query patches: for a query patch, the
 * distances to the key patches weighted by its attention to them, renormalised over the patches
 * (the class token has no place in the image). Divide by images × patches for the mean.
 * @param attn one block's probabilities, [B, H, T, T] with the class token first
 * @param distances [N, N] from {@linkcode patchDistances}, N = T − 1
 * @returns [H] sums
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { attentionDistanceSums } from "./distance.ts";
 * await tf.setBackend("cpu");
 * // Two patches 3 pixels apart; each attends 1/4 to the other patch and 1/4 to itself.
 * const attn = tf.tensor4d([0.5, 0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.25, 0.25], [1, 1, 3, 3]);
 * const sums = attentionDistanceSums(attn, tf.tensor2d([0, 3, 3, 0], [2, 2]));
 * if (Math.abs(sums.dataSync()[0]! - 3) > 1e-6) throw new Error("wrong"); // 1.5 per patch, 2 patches
 * ```
 */
export function attentionDistanceSums(attn: tf.Tensor4D, distances: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [b, h, t] = attn.shape;
    const patches = tf.slice(attn, [0, 0, 1, 1], [b, h, t - 1, t - 1]); // [B, H, N, N]
    const weighted = tf.sum(tf.mul(patches, distances), -1); // [B, H, N]
    const mass = tf.sum(patches, -1); // [B, H, N]
    return tf.sum(tf.div(weighted, tf.maximum(mass, 1e-12)), [0, 2]) as tf.Tensor1D; // [H]
  });
}
