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
  },
  synthetic: {
    image_size: 16,
    channels: 1,
    num_classes: 4,
    mean: [0.5],
    std: [0.5],
    resizable: true,
  },
};
