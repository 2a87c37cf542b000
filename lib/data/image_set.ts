/** The in-memory form of a dataset split: uint8 pixels and integer labels. */

/** Images as uint8 [count, height, width, channels] (NHWC) with their labels. */
export interface ImageSet {
  images: Uint8Array;
  labels: Int32Array;
  /** Each example's index in the file it came from (for predictions and debugging). */
  sourceIndex: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
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
