/**
 * Any dataset in MNIST's file layout: a folder holding `train-images-idx3-ubyte`,
 * `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
 * optionally gzip-compressed (`.gz`). MNIST, Fashion-MNIST, KMNIST and EMNIST ship this way.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.ts";
import type { ImageSet } from "./image_set.ts";
import { loadIdxPair } from "./mnist.ts";

/** Labels are one byte, so no IDX label file can name more classes than this. */
const MAX_CLASSES = 256;

/**
 * Finds a split's two files. Each is looked up as `<stem>-images-idx3-ubyte`, then with `.gz`,
 * then with a dot before `idx` (`train-images.idx3-ubyte`, as some mirrors name them).
 * @param dir the folder
 * @param split `train` or `test` (`t10k-*` files)
 * @returns the image and label file paths
 * @throws {DataError} naming the file it looked for when one is missing
 */
export function idxDatasetFiles(dir: string, split: "train" | "test"): { images: string; labels: string } {
  const stem = split === "train" ? "train" : "t10k";
  return { images: _find(dir, `${stem}-images`, "idx3-ubyte"), labels: _find(dir, `${stem}-labels`, "idx1-ubyte") };
}

function _find(dir: string, name: string, kind: string): string {
  const candidates = [`${name}-${kind}`, `${name}-${kind}.gz`, `${name}.${kind}`, `${name}.${kind}.gz`];
  for (const c of candidates) {
    const path = join(dir, c);
    if (existsSync(path)) return path;
  }
  throw new DataError(`${join(dir, candidates[0]!)}: no such file (nor ${candidates.slice(1).join(", ")})`);
}

/**
 * Loads one split of an IDX dataset.
 * @param dir the folder holding the IDX files
 * @param split `train` or `test`
 * @param numClasses labels must be below this; the set's `numClasses` is this value
 * @returns the images (N×H×W×1, or N×H×W×C for rank-4 image files) and labels
 * @throws {DataError} when a file is missing or malformed, or a label is not below `numClasses`
 */
export function loadIdxSplit(dir: string, split: "train" | "test", numClasses: number): ImageSet {
  return loadIdxPair(idxDatasetFiles(dir, split), numClasses);
}

/**
 * Loads both splits of an IDX dataset.
 * @param dir the folder holding the four IDX files
 * @param numClasses labels must be below this; when omitted it is the largest label of either
 *   split plus one
 * @returns `{ train, test }`, in file order, with the same `numClasses`
 * @throws {DataError} when files are missing or malformed, a label is out of range, or the two
 *   splits' image shapes differ
 */
export function loadIdxDataset(dir: string, numClasses?: number): { train: ImageSet; test: ImageSet } {
  const train = loadIdxSplit(dir, "train", numClasses ?? MAX_CLASSES);
  const test = loadIdxSplit(dir, "test", numClasses ?? MAX_CLASSES);
  if (train.height !== test.height || train.width !== test.width || train.channels !== test.channels) {
    const files = idxDatasetFiles(dir, "test");
    throw new DataError(
      `${files.images}: test images are ${test.height}×${test.width}×${test.channels}, training images ${train.height}×${train.width}×${train.channels}`,
    );
  }
  const k = numClasses ?? Math.max(_maxLabel(train), _maxLabel(test)) + 1;
  return { train: { ...train, numClasses: k }, test: { ...test, numClasses: k } };
}

function _maxLabel(set: ImageSet): number {
  let max = -1;
  for (let i = 0; i < set.count; i++) if (set.labels[i]! > max) max = set.labels[i]!;
  return max;
}
