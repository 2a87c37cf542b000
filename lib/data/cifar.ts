/**
 * CIFAR-10 and CIFAR-100 from their official binary releases.
 *
 * CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` … `data_batch_5.bin` (10,000 records
 * each) and `test_batch.bin`; a record is 1 label byte then 3,072 pixel bytes. CIFAR-100
 * (`cifar-100-binary/`): `train.bin` (50,000) and `test.bin` (10,000); a record is a coarse
 * label byte (20 superclasses), a fine label byte (100 classes), then 3,072 pixel bytes.
 * Pixels are channel-planar: 1,024 red bytes, 1,024 green, 1,024 blue, each 32×32 row-major.
 * We convert them to NHWC.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError, fileErrorReason } from "../errors.ts";
import type { ImageSet } from "./image_set.ts";

/** CIFAR-10's class names by label. */
export const CIFAR10_CLASSES: readonly string[] = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];

/** Which release. */
export type CifarName = "cifar10" | "cifar100";

/** The folder each release unpacks to. */
export const CIFAR_FOLDERS: Record<CifarName, string> = {
  cifar10: "cifar-10-batches-bin",
  cifar100: "cifar-100-binary",
};

/** Official example counts per split. */
export const CIFAR_COUNTS: { train: number; test: number } = { train: 50000, test: 10000 };

const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;

/** Options of the CIFAR loaders. */
export interface CifarOptions {
  /** The example count to insist on; default the official one (50,000 / 10,000); null skips the check. */
  expectCount?: number | null;
}

/**
 * The release's folder: `path` itself when it holds the batch files, else `path/<release folder>`
 * (so both the unpacked folder and the folder it was unpacked into work).
 * @param path a folder
 * @param name `cifar10` or `cifar100`
 * @returns the folder holding the `.bin` files
 */
export function cifarDir(path: string, name: CifarName): string {
  const probe = name === "cifar10" ? "test_batch.bin" : "test.bin";
  if (existsSync(join(path, probe))) return path;
  const inner = join(path, CIFAR_FOLDERS[name]);
  return existsSync(join(inner, probe)) ? inner : path;
}

/**
 * @param path the release folder or the folder holding it
 * @param name `cifar10` or `cifar100`
 * @param split `train` or `test`
 * @returns the binary files of that split, in the order their records are read
 */
export function cifarFiles(path: string, name: CifarName, split: "train" | "test"): string[] {
  const dir = cifarDir(path, name);
  if (name === "cifar100") return [join(dir, split === "train" ? "train.bin" : "test.bin")];
  if (split === "test") return [join(dir, "test_batch.bin")];
  return [1, 2, 3, 4, 5].map((i) => join(dir, `data_batch_${i}.bin`));
}

/**
 * Loads a CIFAR-10 split. `sourceIndex` is the record's position over the split's files read in
 * order (data_batch_2's first record is 10,000).
 * @param path the `cifar-10-batches-bin` folder or the folder holding it
 * @param split `train` (data_batch_1..5) or `test` (test_batch)
 * @param opts the count to insist on
 * @returns 32×32×3 uint8 images (NHWC) with labels 0–9
 * @throws {DataError} when a file is missing, truncated, holds a label above 9, or the count differs
 */
export function loadCifar10(path: string, split: "train" | "test", opts: CifarOptions = {}): ImageSet {
  return _load(cifarFiles(path, "cifar10", split), 1, 0, 10, _expect(opts, split));
}

/**
 * Loads a CIFAR-100 split.
 * @param path the `cifar-100-binary` folder or the folder holding it
 * @param split `train` or `test`
 * @param opts `labels`: `fine` (100 classes, the default) or `coarse` (20 superclasses); the count to insist on
 * @returns 32×32×3 uint8 images (NHWC) with the chosen labels
 * @throws {DataError} when a file is missing, truncated, holds a label out of range, or the count differs
 */
export function loadCifar100(
  path: string,
  split: "train" | "test",
  opts: CifarOptions & { labels?: "fine" | "coarse" } = {},
): ImageSet {
  const fine = (opts.labels ?? "fine") === "fine";
  return _load(cifarFiles(path, "cifar100", split), 2, fine ? 1 : 0, fine ? 100 : 20, _expect(opts, split));
}

function _expect(opts: CifarOptions, split: "train" | "test"): number | null {
  return opts.expectCount === undefined ? CIFAR_COUNTS[split] : opts.expectCount;
}

/**
 * Reads records from files, checks them, and converts planar RGB to NHWC.
 * @param files the files, read in order
 * @param labelBytes label bytes before each record's pixels (1 or 2)
 * @param labelAt which of them is the label used
 * @param numClasses labels must be below this
 * @param expectCount total records required, or null
 */
function _load(
  files: string[],
  labelBytes: number,
  labelAt: number,
  numClasses: number,
  expectCount: number | null,
): ImageSet {
  const record = labelBytes + PIXELS;
  const contents = files.map((file) => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new DataError(`${file}: cannot read CIFAR file (${fileErrorReason(err)})`);
    }
    if (bytes.length === 0) throw new DataError(`${file}: empty file`);
    if (bytes.length % record !== 0) {
      throw new DataError(
        `${file}: ${bytes.length} bytes is not a whole number of ${record}-byte records (truncated, or not this CIFAR release)`,
      );
    }
    return bytes;
  });
  const count = contents.reduce((n, b) => n + b.length / record, 0);
  if (expectCount !== null && count !== expectCount) {
    throw new DataError(`${files.join(", ")}: ${count} records, expected ${expectCount}`);
  }
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let n = 0;
  contents.forEach((bytes, f) => {
    const records = bytes.length / record;
    for (let r = 0; r < records; r++, n++) {
      const src = r * record;
      const label = bytes[src + labelAt]!;
      if (label >= numClasses) {
        throw new DataError(`${files[f]}: label ${label} at record ${r} is not below ${numClasses} classes`);
      }
      labels[n] = label;
      const px = src + labelBytes;
      const dst = n * PIXELS;
      // Planar [3, 32, 32] → interleaved [32, 32, 3].
      for (let p = 0; p < PLANE; p++) {
        images[dst + 3 * p] = bytes[px + p]!;
        images[dst + 3 * p + 1] = bytes[px + PLANE + p]!;
        images[dst + 3 * p + 2] = bytes[px + 2 * PLANE + p]!;
      }
    }
  });
  const sourceIndex = Int32Array.from({ length: count }, (_, i) => i);
  return { images, labels, sourceIndex, count, height: SIDE, width: SIDE, channels: 3, numClasses };
}
