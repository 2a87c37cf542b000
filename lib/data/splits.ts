/** The train / validation / test splits a config asks for. */
import type { Config } from "../config/schema.ts";
import { DataError } from "../errors.ts";
import { Rng } from "../random.ts";
import { type ImageSet, selectExamples } from "./image_set.ts";
import { cifarFiles, loadCifar10, loadCifar100 } from "./cifar.ts";
import { loadFashionMnist, prepareFashionMnist } from "./fashion_mnist.ts";
import { loadImageFolder, scanImageFolder } from "./folder.ts";
import { idxDatasetFiles, loadIdxSplit } from "./idx_dataset.ts";
import { loadMnist, mnistFiles } from "./mnist.ts";
import { makeSynthetic } from "./synthetic.ts";

/** A split name. */
export type SplitName = "train" | "val" | "test";

/** Loads the dataset's file-level split (`train` or `test`) before any subsetting. */
function _loadRaw(config: Config, split: "train" | "test"): ImageSet {
  const d = config.data;
  const path = d.path ?? "";
  switch (d.dataset) {
    case "mnist":
      return loadMnist(split);
    case "fashion-mnist":
      return loadFashionMnist()[split];
    // Any whole number of records is accepted (a cut-down copy, say); a file cut mid-record is not.
    case "cifar10":
      return loadCifar10(path, split, { expectCount: null });
    case "cifar100":
      return loadCifar100(path, split, { expectCount: null });
    case "idx":
      return loadIdxSplit(path, split, d.num_classes!);
    case "folder": {
      const classes = split === "test" ? scanImageFolder(path, "train").classes : undefined;
      const opts = { imageSize: d.image_size!, channels: d.channels as 1 | 3 };
      const set = loadImageFolder(path, split, opts, classes).set;
      return { ...set, numClasses: d.num_classes! };
    }
    case "synthetic":
      return makeSynthetic({
        count: split === "train" ? d.synthetic_size : Math.max(1, Math.floor(d.synthetic_size / 4)),
        imageSize: d.image_size!,
        channels: d.channels!,
        numClasses: d.num_classes!,
        seed: config.train.seed,
        split,
      });
  }
}

/**
 * The files a dataset reads, to hash into env.json.
 * @param config a resolved config
 * @returns paths (none for generated data)
 */
export function datasetFiles(config: Config): string[] {
  const path = config.data.path ?? "";
  const pair = (f: { images: string; labels: string }) => [f.images, f.labels];
  switch (config.data.dataset) {
    case "mnist":
      return [...pair(mnistFiles("train")), ...pair(mnistFiles("test"))];
    case "fashion-mnist": {
      const dir = prepareFashionMnist();
      return [...pair(idxDatasetFiles(dir, "train")), ...pair(idxDatasetFiles(dir, "test"))];
    }
    case "cifar10":
    case "cifar100":
      return [...cifarFiles(path, config.data.dataset, "train"), ...cifarFiles(path, config.data.dataset, "test")];
    case "idx":
      return [...pair(idxDatasetFiles(path, "train")), ...pair(idxDatasetFiles(path, "test"))];
    // Hashing every image of a folder would cost as much as reading it: record none.
    case "folder":
    case "synthetic":
      return [];
  }
}

/**
 * Training and validation splits: `data.subset` first N training examples, then a seeded
 * `data.val_fraction` of them held out. Both keep dataset order.
 * @param config a resolved config
 * @returns the two splits
 * @throws {DataError} when files are missing or too few examples remain
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { loadTrainVal } from "./splits.ts";
 * const config = configFromObject({
 *   data: { dataset: "synthetic", image_size: 14, num_classes: 3, synthetic_size: 100, val_fraction: 0.2 },
 * });
 * const { train, val } = loadTrainVal(config);
 * if (train.count !== 80 || val.count !== 20 || train.height !== 14) throw new Error("wrong");
 * ```
 */
export function loadTrainVal(config: Config): { train: ImageSet; val: ImageSet } {
  let all = _loadRaw(config, "train");
  const subset = config.data.subset;
  if (subset > 0 && subset < all.count) all = selectExamples(all, Int32Array.from({ length: subset }, (_, i) => i));
  _checkShape(config, all);
  const nVal = Math.round(all.count * config.data.val_fraction);
  const perm = Rng.fromSeed(config.train.seed, "split").permutation(all.count);
  const isVal = new Uint8Array(all.count);
  for (let i = 0; i < nVal; i++) isVal[perm[i]!] = 1;
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  for (let i = 0; i < all.count; i++) (isVal[i] ? valIdx : trainIdx).push(i);
  if (trainIdx.length === 0) {
    throw new DataError(
      `data.val_fraction ${config.data.val_fraction} leaves no training examples out of ${all.count}`,
    );
  }
  return { train: selectExamples(all, trainIdx), val: selectExamples(all, valIdx) };
}

/**
 * One split for evaluation.
 * @param config a resolved config
 * @param split `train`, `val` (as carved for training) or `test` (the dataset's own test files)
 * @returns that split, in dataset order
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { loadSplit } from "./splits.ts";
 * const config = configFromObject({ data: { dataset: "synthetic", image_size: 14, num_classes: 3, synthetic_size: 64 } });
 * const test = loadSplit(config, "test");
 * if (test.count !== 16 || test.images.length !== 16 * 14 * 14 * test.channels) throw new Error("wrong");
 * ```
 */
export function loadSplit(config: Config, split: SplitName): ImageSet {
  if (split === "test") {
    const test = _loadRaw(config, "test");
    _checkShape(config, test);
    return test;
  }
  return loadTrainVal(config)[split];
}

function _checkShape(config: Config, set: ImageSet): void {
  const d = config.data;
  const where = d.path ? `${d.dataset} at ${d.path}` : d.dataset;
  if (set.height !== d.image_size || set.width !== d.image_size || set.channels !== d.channels) {
    throw new DataError(
      `${where}: images are ${set.height}×${set.width}×${set.channels}, config expects ${d.image_size}×${d.image_size}×${d.channels} (set data.image_size / data.channels)`,
    );
  }
  let maxLabel = -1;
  for (const l of set.labels) if (l > maxLabel) maxLabel = l;
  if (maxLabel >= d.num_classes!) {
    throw new DataError(`${where}: label ${maxLabel} is not below data.num_classes (${d.num_classes})`);
  }
}
