/** Turning examples into normalised tensors. */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import { augmentBatch, type AugmentOptions } from "./augment.ts";
import type { ImageSet } from "./image_set.ts";

/** Per-channel normalisation: the model sees (pixel/255 − mean)/std. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * Normalised pixels and labels of some examples, in JS memory (for augmentation).
 * @param set the split
 * @param indices positions in the split
 * @param norm per-channel mean and std
 * @returns pixels [B, H, W, C] row-major and labels [B]
 */
export function normalizedPixels(
  set: ImageSet,
  indices: ArrayLike<number>,
  norm: Normalization,
): { pixels: Float32Array; labels: Int32Array } {
  const c = set.channels;
  const size = set.height * set.width * c;
  const scale = norm.std.map((s) => 1 / (255 * s));
  const shift = norm.mean.map((m, i) => m / norm.std[i]!);
  const pixels = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    const src = j * size;
    const dst = i * size;
    for (let p = 0; p < size; p++) {
      const ch = p % c;
      pixels[dst + p] = set.images[src + p]! * scale[ch]! - shift[ch]!;
    }
    labels[i] = set.labels[j]!;
  }
  return { pixels, labels };
}

/**
 * Builds one batch.
 * @param set the split
 * @param indices positions in the split
 * @param norm per-channel mean and std
 * @returns x [B, H, W, C] float32 and y [B] int32
 */
export function makeBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  norm: Normalization,
): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const { pixels, labels } = normalizedPixels(set, indices, norm);
  return {
    x: tf.tensor4d(pixels, [indices.length, set.height, set.width, set.channels]), // [B, H, W, C]
    y: tf.tensor1d(labels, "int32"), // [B]
  };
}

/**
 * Builds one augmented training batch: augmentation runs on the normalised pixels in JS, before
 * the tensors exist, and mixing yields soft targets.
 * @param set the split
 * @param indices positions in the split
 * @param norm per-channel mean and std
 * @param options the config's `augment` section
 * @param rng the epoch's `augment` stream
 * @param epoch one-based epoch (for mixup_off_epoch)
 * @returns x [B, H, W, C], y [B] (unmixed labels, for accuracy) and targets [B, K]
 */
export function makeAugmentedBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  norm: Normalization,
  options: Partial<AugmentOptions>,
  rng: Rng,
  epoch: number,
): { x: tf.Tensor4D; y: tf.Tensor1D; targets: tf.Tensor2D } {
  const { pixels, labels } = normalizedPixels(set, indices, norm);
  const k = set.numClasses;
  const shape = { b: indices.length, h: set.height, w: set.width, c: set.channels };
  const out = augmentBatch(pixels, labels, k, shape, options, rng, epoch, norm);
  return {
    x: tf.tensor4d(out.x, [shape.b, shape.h, shape.w, shape.c]), // [B, H, W, C]
    y: tf.tensor1d(labels, "int32"), // [B]
    targets: tf.tensor2d(out.targets, [shape.b, k]), // [B, K]
  };
}
