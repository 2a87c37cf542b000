/** `viz`: pictures and CSVs of what a run's checkpoint learned, into one folder. */
import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import { classNames } from "../data/class_names.ts";
import { fileErrorReason, UsageError } from "../errors.ts";
import { type EvaluateRunOptions, openRunCheckpoint } from "../runs/evaluate_run.ts";
import type { SplitName } from "../data/splits.ts";
import { collectSplit } from "./collect.ts";
import { type VizFile, VizWriter, writeAttentionFigures, writeErrorFigures, writeParameterFigures } from "./figures.ts";
import { indexMarkdown } from "./index_md.ts";
import { pickExamples } from "./pick.ts";

/** The most images one picture draws: past that the pictures stop being readable. */
export const VIZ_MAX_IMAGES = 64;

/** Images drawn when `images` is not given (fewer when the split has fewer). */
export const VIZ_DEFAULT_IMAGES = 16;

/** Options of {@linkcode visualizeRun}. */
export interface VisualizeOptions extends Omit<EvaluateRunOptions, "predictions"> {
  /**
   * Images drawn with their attention, and errors drawn: at most {@linkcode VIZ_MAX_IMAGES} and the
   * split's size; {@linkcode VIZ_DEFAULT_IMAGES} (or the whole split when smaller) by default.
   */
  images?: number;
  /** The output folder; `<run>/viz` by default. Created when missing. */
  out?: string;
}

/** What `viz` wrote. */
export interface VisualizeResult {
  /** The output folder. */
  dir: string;
  /** The files, in the order written; pictures with their size. */
  files: VizFile[];
  /** The split drawn. */
  split: SplitName;
  /** The checkpoint file loaded. */
  checkpoint: string;
  /** Examples run through the model. */
  count: number;
  /** Accuracy over them: the confusion matrix's diagonal over its total. */
  acc: number;
}

/**
 * Runs a run's checkpoint over a split once, with the model's attention kept, and writes the
 * pictures (attention rollout, per-head attention, attention distance, position-embedding
 * similarity, patch-filter components, confusion matrix, errors), their CSVs and `index.md`.
 * @param runDir a run directory
 * @param options checkpoint, split, images, output folder, backend, batch size, limit
 * @returns the folder and the files written
 * @throws {UsageError} for a folder that is no run, a missing checkpoint, `images` out of range
 *   or an output folder that cannot be written
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { runExperiment } from "../runs/experiment.ts";
 * import { visualizeRun } from "./visualize.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const { runDir } = await runExperiment(config, { runsDir: Deno.makeTempDirSync() });
 * const r = await visualizeRun(runDir, { split: "test", images: 4 });
 * if (!r.files.some((f) => f.name === "index.md") || r.count !== 16) throw new Error("wrong");
 * ```
 */
export async function visualizeRun(runDir: string, options: VisualizeOptions = {}): Promise<VisualizeResult> {
  const asked = options.images;
  if (asked !== undefined && (!Number.isInteger(asked) || asked < 1 || asked > VIZ_MAX_IMAGES)) {
    throw new UsageError(`--images: expected a whole number from 1 to ${VIZ_MAX_IMAGES}, got '${asked}'`);
  }
  const run = await openRunCheckpoint(runDir, options);
  try {
    const count = Math.min(run.set.count, options.limit ?? run.set.count);
    if (count === 0) throw new UsageError(`${runDir}: the ${run.split} split has no examples to draw`);
    if (asked !== undefined && asked > count) {
      throw new UsageError(`--images ${asked}: the ${run.split} split has only ${count} examples to draw`);
    }
    const images = asked ?? Math.min(VIZ_DEFAULT_IMAGES, count);
    const dir = _outputFolder(options.out ?? join(runDir, "viz"), options.out !== undefined);
    const drawn = pickExamples(run.set.labels, count, images, run.set.numClasses);
    const norm = { mean: run.config.data.mean, std: run.config.data.std };
    const pass = await collectSplit(run.model, run.set, norm, { batchSize: run.batchSize, count, drawn });
    const w = new VizWriter(dir);
    const input = { model: run.model, set: run.set, pass, drawn, names: classNames(run.config), errors: images };
    await writeAttentionFigures(w, input);
    await writeParameterFigures(w, run.model);
    const acc = writeErrorFigures(w, input);
    const info = { runDir, checkpoint: run.checkpoint, epoch: run.epoch, split: run.split, count, acc };
    w.text("index.md", indexMarkdown({ ...info, pool: run.model.shape.pool }, w.files));
    return { dir, files: w.files, split: run.split, checkpoint: run.checkpoint, count, acc };
  } finally {
    run.model.dispose();
  }
}

/** Creates the folder and checks that it takes files. */
function _outputFolder(dir: string, given: boolean): string {
  const flag = given ? `--out ${dir}` : dir;
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new UsageError(`${flag}: cannot write pictures there (${fileErrorReason(err)})`);
  }
  return dir;
}
