/** Evaluating a run's checkpoint on a split, as `deno task eval` does. */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "csv-stringify/sync";
import { type BackendInfo, initBackend } from "../backend/backend.ts";
import { parse as parseYaml } from "yaml";
import { checkEvalMemory } from "../config/estimate.ts";
import { configFromObject, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { BackendName } from "../config/schema.ts";
import type { ImageSet } from "../data/image_set.ts";
import { loadSplit, type SplitName } from "../data/splits.ts";
import { CheckpointError, firstLine, UsageError } from "../errors.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import { evaluate } from "../train/evaluate.ts";
import { writeFileAtomic } from "./atomic.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { type EvalCheckpoint, recordEval } from "./evals.ts";
import { firstDifference, RESUMABLE_KEYS, trajectoryHash } from "./resume_rules.ts";
import { RUN_FILES } from "./run_dir.ts";
import { readSafetensorsHeader } from "./safetensors.ts";

/** Options of {@linkcode evaluateRun}. */
export interface EvaluateRunOptions {
  /**
   * `best` (the epoch with the best validation accuracy, the default), `last`, or `ema` (the
   * moving average of the weights after the last epoch, when `train.ema_decay` > 0).
   */
  checkpoint?: EvalCheckpoint;
  /** The split to evaluate on; `val` by default. */
  split?: SplitName;
  /** Evaluate only the first N examples of the split. */
  limit?: number;
  /** Write one CSV row per example here. */
  predictions?: string;
  /** Overrides the run's backend. */
  backend?: BackendName;
  /** Examples per forward pass; the config's `train.eval_batch_size` by default. */
  batchSize?: number;
  /**
   * Keep the result in the run's evals.json (true by default), where `compare` shows it. Only an
   * evaluation of the whole split is kept: one with `limit` never is.
   */
  record?: boolean;
}

/** What `eval` prints. */
export interface EvaluateRunResult {
  /** The split evaluated on. */
  split: SplitName;
  /** Path of the checkpoint file loaded. */
  checkpoint: string;
  /** The one-based epoch the checkpoint was saved at, from its metadata; null when it has none. */
  epoch: number | null;
  /** Mean cross-entropy over the examples (NaN for none). */
  loss: number;
  /** Fraction of examples classified correctly, in [0, 1] (NaN for none). */
  acc: number;
  /** Examples evaluated. */
  count: number;
  /** The tfjs backend it ran on. */
  backend: BackendInfo["name"];
  /** The evals.json it was recorded in; null when it was not (a limit, or `record: false`). */
  recorded: string | null;
  /** Why it could not be recorded (a read-only run directory); the result stands regardless. */
  recordError?: string;
}

/**
 * Loads a run's config and checkpoint into a fresh model and evaluates it.
 * @param runDir a run directory written by {@linkcode runExperiment}
 * @param options which checkpoint and split, how many examples, where to write predictions
 * @returns loss, accuracy and count, and the evals.json that keeps them
 * @throws {UsageError} when runDir is not a run directory; {@linkcode CheckpointError} when its
 *   checkpoint is unreadable or does not fit
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { evaluateRun } from "./evaluate_run.ts";
 * import { runExperiment } from "./experiment.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const { runDir } = await runExperiment(config, { runsDir: Deno.makeTempDirSync() });
 * const result = await evaluateRun(runDir, { checkpoint: "last", split: "test" });
 * if (result.count !== 16 || result.epoch !== 1 || !(result.acc >= 0 && result.acc <= 1)) throw new Error("wrong");
 * if (result.recorded !== `${runDir}/evals.json`) throw new Error("not kept for compare");
 * ```
 */
export async function evaluateRun(runDir: string, options: EvaluateRunOptions = {}): Promise<EvaluateRunResult> {
  const run = await openRunCheckpoint(runDir, options);
  const { config, model, set } = run;
  try {
    const norm = { mean: config.data.mean, std: config.data.std };
    const r = await evaluate(model, set, norm, run.batchSize, {
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      logits: options.predictions !== undefined,
    });
    if (options.predictions !== undefined) {
      _writePredictions(options.predictions, set.sourceIndex, set.labels, r.logits!, r.count);
    }
    const result: EvaluateRunResult = {
      split: run.split,
      checkpoint: run.checkpoint,
      epoch: run.epoch,
      loss: r.loss,
      acc: r.acc,
      count: r.count,
      backend: run.backend.name,
      recorded: null,
    };
    if (options.record !== false && options.limit === undefined && r.count > 0) {
      try {
        result.recorded = recordEval(runDir, {
          split: run.split,
          checkpoint: run.which,
          epoch: run.epoch,
          acc: r.acc,
          loss: r.loss,
          count: r.count,
          backend: run.backend.name,
          at: new Date().toISOString(),
        });
      } catch (err) {
        result.recordError = firstLine(err);
      }
    }
    return result;
  } finally {
    model.dispose();
  }
}

/** A run's checkpoint loaded into a model, with the split it is to be run on. */
export interface OpenedRun {
  /** The run's config, as its config.yaml says. */
  config: Config;
  /** Path of the checkpoint file loaded. */
  checkpoint: string;
  /** Which of the run's checkpoints that is (`best` when none was asked for). */
  which: EvalCheckpoint;
  /** The one-based epoch the checkpoint was saved at, from its metadata; null when it has none. */
  epoch: number | null;
  /** The split's name. */
  split: SplitName;
  /** The split, in dataset order (only the files it is carved from are read). */
  set: ImageSet;
  /** The model with the checkpoint's weights: the caller disposes it. */
  model: VisionTransformer;
  /** The backend it runs on. */
  backend: BackendInfo;
  /** Examples per forward pass. */
  batchSize: number;
}

/**
 * Everything `eval` (and `viz`) check and load before running a checkpoint: the run directory,
 * its config, the checkpoint and that it fits the config, the backend, the memory an
 * evaluation batch needs, the split and the model.
 * @param runDir a run directory
 * @param options which checkpoint and split, the backend and batch size
 * @returns the loaded run; dispose its `model`
 * @throws {UsageError} when runDir is not a run directory or the checkpoint file is missing;
 *   {@linkcode CheckpointError} when the checkpoint is unreadable or does not fit
 */
export async function openRunCheckpoint(
  runDir: string,
  options: Omit<EvaluateRunOptions, "limit" | "predictions" | "record"> = {},
): Promise<OpenedRun> {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) {
    throw new UsageError(`${runDir}: no such run directory`);
  }
  const configPath = join(runDir, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UsageError(`${runDir}: not a run directory (no ${RUN_FILES.config})`);
  const config = loadConfig(configPath);
  const which = options.checkpoint ?? "best";
  const ckpt = join(runDir, RUN_FILES[which]);
  if (!existsSync(ckpt)) {
    const why = which === "ema"
      ? "the run keeps one when train.ema_decay > 0, after its first epoch"
      : `the run saves one after its first epoch; try --checkpoint ${which === "best" ? "last" : "best"}`;
    throw new UsageError(`${ckpt}: no such checkpoint (${why})`);
  }
  checkpointMatchesConfig(ckpt, config, configPath);
  const split = options.split ?? "val";
  const backend = await initBackend(options.backend ?? config.run.backend);
  const batch = options.batchSize ?? config.train.eval_batch_size;
  checkEvalMemory(
    config,
    batch,
    backend.name,
    options.batchSize !== undefined ? "--batch-size" : "train.eval_batch_size",
  );
  const set = loadSplit(config, split);
  const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  try {
    const meta = loadCheckpoint(ckpt, model);
    const epoch = meta.epoch ? Number(meta.epoch) : null;
    return { config, checkpoint: ckpt, which, epoch, split, set, model, backend, batchSize: batch };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * A checkpoint carries the config it was trained with: refuse to evaluate it under a config.yaml
 * that would build another model or another split (an edited or emptied file). Keys a resume may
 * change (epochs, backend, …) do not count.
 * @param ckpt the checkpoint file
 * @param config the run's config as config.yaml has it now
 * @param configPath config.yaml, for the message
 * @throws {CheckpointError} on a mismatch or an unreadable checkpoint
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { checkpointMatchesConfig } from "./evaluate_run.ts";
 * import { writeSafetensors } from "./safetensors.ts";
 * const path = `${Deno.makeTempDirSync()}/last.safetensors`;
 * writeSafetensors(path, [], { config: "train: {seed: 1}\n" });
 * checkpointMatchesConfig(path, configFromObject({ train: { seed: 1 } }), "config.yaml"); // same: no error
 * let refused = false;
 * try {
 *   checkpointMatchesConfig(path, configFromObject({ train: { seed: 2 } }), "config.yaml");
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("an edited seed was let through");
 * ```
 */
export function checkpointMatchesConfig(ckpt: string, config: Config, configPath: string): void {
  const text = readSafetensorsHeader(ckpt).metadata.config;
  if (text === undefined) return; // a timm file placed in the run: nothing to compare
  let trained: Config;
  try {
    trained = configFromObject(parseYaml(text));
  } catch (err) {
    throw new CheckpointError(`${ckpt}: its config metadata does not load (${firstLine(err)})`);
  }
  const diff = trajectoryHash(trained) === trajectoryHash(config)
    ? null
    : firstDifference(trained, config, RESUMABLE_KEYS) ?? "its trajectory hash differs";
  if (diff !== null) {
    throw new CheckpointError(
      `${ckpt} was trained with another config than ${configPath} (${diff}); was config.yaml edited? ` +
        `The checkpoint's own config is in its metadata`,
    );
  }
}

function _writePredictions(
  path: string,
  index: Int32Array,
  labels: Int32Array,
  logits: Float32Array,
  count: number,
): void {
  const k = logits.length / Math.max(1, count);
  const columns = ["index", "label", "prediction", ...Array.from({ length: k }, (_, i) => `logit_${i}`)];
  const rows: (string | number)[][] = [];
  for (let i = 0; i < count; i++) {
    const z = logits.subarray(i * k, (i + 1) * k);
    let arg = 0;
    for (let j = 1; j < k; j++) if (z[j]! > z[arg]!) arg = j;
    rows.push([index[i]!, labels[i]!, arg, ...Array.from(z, (v) => v.toFixed(6))]);
  }
  try {
    writeFileAtomic(path, stringify(rows, { header: true, columns }));
  } catch (err) {
    throw new UsageError(
      `--predictions ${path}: cannot write (${(err as { code?: string }).code ?? (err as Error).message})`,
    );
  }
}
