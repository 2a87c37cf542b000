/** The names of a dataset's classes, for labels on pictures and rows of per-class tables. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../config/schema.ts";
import { CIFAR10_CLASSES, cifarFiles } from "./cifar.ts";
import { FASHION_MNIST_CLASSES } from "./fashion_mnist.ts";
import { scanImageFolder } from "./folder.ts";

/**
 * Class names by label: Fashion-MNIST's and CIFAR-10's published names, CIFAR-100's from the
 * release's `fine_label_names.txt` when it is there, an image folder's class folders, and the
 * label's digits otherwise (MNIST, IDX files, synthetic data).
 * @param config a resolved config
 * @returns `data.num_classes` names
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { classNames } from "./class_names.ts";
 * if (classNames(configFromObject({ data: { dataset: "fashion-mnist" } }))[9] !== "Ankle boot") throw new Error("wrong");
 * if (classNames(configFromObject({ data: { dataset: "mnist" } })).join("") !== "0123456789") throw new Error("wrong");
 * ```
 */
export function classNames(config: Config): string[] {
  const k = config.data.num_classes!;
  const digits = Array.from({ length: k }, (_, i) => String(i));
  const named = _published(config);
  return named !== null && named.length >= k ? named.slice(0, k) : digits;
}

function _published(config: Config): readonly string[] | null {
  const path = config.data.path ?? "";
  switch (config.data.dataset) {
    case "fashion-mnist":
      return FASHION_MNIST_CLASSES;
    case "cifar10":
      return CIFAR10_CLASSES;
    case "cifar100": {
      const file = join(dirname(cifarFiles(path, "cifar100", "test")[0]!), "fine_label_names.txt");
      if (!existsSync(file)) return null;
      return readFileSync(file, "utf8").split("\n").map((s) => s.trim()).filter((s) => s !== "");
    }
    case "folder":
      try {
        return scanImageFolder(path, "train").classes;
      } catch {
        return null; // the names only label pictures: the folder's own errors come from loading it
      }
    default:
      return null;
  }
}
