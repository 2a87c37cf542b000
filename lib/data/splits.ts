/** The train / validation / test splits a config asks for. */
import type { Config } from "../config/schema.ts";
import { DataError } from "../errors.ts";
import { Rng } from "../random.ts";
import { type ImageSet, selectExamples } from "./image_set.ts";
import { loadMnist, mnistFiles } from "./mnist.ts";
import { makeSynthetic } from "./synthetic.ts";

/** A split name. */
export type SplitName = "train" | "val" | "test";

/** Loads the dataset's file-level split (`train` or `test`) before any subsetting. */
function _loadRaw(config: Config, split: "train" | "test"): ImageSet {
  const d = config.data;
  switch (d.dataset) {
    case "mnist":
      return loadMnist(split);
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
  if (config.data.dataset !== "mnist") return [];
  const t = mnistFiles("train");
  const e = mnistFiles("test");
  return [t.images, t.labels, e.images, e.labels];
}

/**
 * Training and validation splits: `data.subset` first N training examples, then a seeded
 * `data.val_fraction` of them held out. Both keep dataset order.
 * @param config a resolved config
 * @returns the two splits
 * @throws {DataError} when files are missing or too few examples remain
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
  if (set.height !== d.image_size || set.width !== d.image_size || set.channels !== d.channels) {
    throw new DataError(
      `${d.dataset}: images are ${set.height}×${set.width}×${set.channels}, config expects ${d.image_size}×${d.image_size}×${d.channels}`,
    );
  }
}
