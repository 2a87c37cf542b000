/** The in-memory form of a dataset split: uint8 pixels and integer labels. */

/** Images as uint8 [count, height, width, channels] (NHWC) with their labels. */
export interface ImageSet {
  /** Pixels 0–255, [count, height, width, channels] row-major. */
  images: Uint8Array;
  /** [count] class indices in [0, numClasses). */
  labels: Int32Array;
  /** Each example's index in the file it came from (for predictions and debugging). */
  sourceIndex: Int32Array;
  /** Examples in the set. */
  count: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** Channels per pixel (1 for MNIST, 3 for CIFAR). */
  channels: number;
  /** Classes of the dataset, whether or not this set holds an example of each. */
  numClasses: number;
}

/**
 * Takes some examples of a set, in the order given.
 * @param set the source
 * @param indices positions in `set`
 * @returns a new set holding copies of those examples
 */
export function selectExamples(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const size = set.height * set.width * set.channels;
  const images = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  const sourceIndex = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    images.set(set.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = set.labels[j]!;
    sourceIndex[i] = set.sourceIndex[j]!;
  }
  return { ...set, images, labels, sourceIndex, count: indices.length };
}
