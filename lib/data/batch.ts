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
    _normalizeImage(set.images, j * size, pixels, i * size, size, c, scale, shift);
    labels[i] = set.labels[j]!;
  }
  return { pixels, labels };
}

// One image's pixels, channel by channel with each channel's factors hoisted (the same float64
// expression, rounded once to float32, as a loop over every value with p % c gave).
function _normalizeImage(
  images: ArrayLike<number>,
  src: number,
  pixels: Float32Array,
  dst: number,
  size: number,
  c: number,
  scale: number[],
  shift: number[],
): void {
  for (let ch = 0; ch < c; ch++) {
    const a = scale[ch]!, b = shift[ch]!;
    for (let p = ch; p < size; p += c) pixels[dst + p] = images[src + p]! * a - b;
  }
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
  const { x, y } = batchTensors(set, hostBatch(set, indices, norm, null));
  return { x, y };
}

/** One training batch in JS memory, before it becomes tensors. */
export interface HostBatch {
  /** Pixels [B, H, W, C], normalised (and augmented). */
  pixels: Float32Array;
  /** Labels [B] (unmixed, for accuracy). */
  labels: Int32Array;
  /** Soft targets [B, K] when augmentation mixes, else null. */
  targets: Float32Array | null;
}

/**
 * Builds one training batch in JS memory: normalised pixels, then augmentation when `augment`
 * is given. The same function runs in the prefetch worker, so batches are identical either way.
 * @param set the split
 * @param indices positions in the split
 * @param norm per-channel mean and std
 * @param augment the config's `augment` section with the epoch's `augment` stream and one-based
 *   epoch, or null for plain batches
 * @returns the batch's arrays
 */
export function hostBatch(
  set: ImageSet,
  indices: ArrayLike<number>,
  norm: Normalization,
  augment: { options: Partial<AugmentOptions>; rng: Rng; epoch: number } | null,
): HostBatch {
  const { pixels, labels } = normalizedPixels(set, indices, norm);
  if (!augment) return { pixels, labels, targets: null };
  const shape = { b: indices.length, h: set.height, w: set.width, c: set.channels };
  const out = augmentBatch(pixels, labels, set.numClasses, shape, augment.options, augment.rng, augment.epoch, norm);
  return { pixels: out.x, labels, targets: out.targets };
}

/**
 * @param set the split the batch came from (for its shape)
 * @param batch a batch from {@linkcode hostBatch}
 * @returns x [B, H, W, C], y [B] and, when mixed, targets [B, K]
 */
export function batchTensors(
  set: ImageSet,
  batch: HostBatch,
): { x: tf.Tensor4D; y: tf.Tensor1D; targets: tf.Tensor2D | null } {
  const b = batch.labels.length;
  return {
    x: tf.tensor4d(batch.pixels, [b, set.height, set.width, set.channels]), // [B, H, W, C]
    y: tf.tensor1d(batch.labels, "int32"), // [B]
    targets: batch.targets ? tf.tensor2d(batch.targets, [b, set.numClasses]) : null, // [B, K]
  };
}
