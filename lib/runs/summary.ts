/** summary.json: the state and outcome of a run, rewritten atomically as it progresses. */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./atomic.ts";
import type { TimmArgs } from "../model/timm_args.ts";
import type { MetricsRow } from "./metrics.ts";

/** A run's status. */
export type RunStatus = "running" | "completed" | "failed" | "interrupted" | "diverged";

/** The contents of summary.json. */
export interface RunSummary {
  /** `running` until the run ends, or while a crashed process left it so. */
  status: RunStatus;
  /** `run.name` of the config (`run` when unset). */
  name: string;
  /** The run directory, as created under the runs folder. */
  run_dir: string;
  /** `configHash` of the resolved config; the run directory's name holds its first 6 digits. */
  config_hash: string;
  /** Scalar parameters of the model. */
  param_count: number;
  /** The tfjs backend of the latest start or resume. */
  backend: string;
  /** The device that backend ran on, in words. */
  device: string;
  /** `train.epochs`: the epochs asked for (a resume may raise it). */
  epochs: number;
  /** Epochs with a metrics row. */
  epochs_completed: number;
  /** Optimizer steps since the run began, as of the last completed epoch. */
  steps: number;
  /** One-based epoch with the best validation accuracy (the last epoch without a validation split). */
  best_epoch: number | null;
  /** Validation accuracy at `best_epoch`, in [0, 1]. */
  best_val_acc: number | null;
  /** Validation loss at `best_epoch`. */
  best_val_loss: number | null;
  /** The last epoch's metrics row. */
  final: MetricsRow | null;
  /** Seconds spent running, summed over the start and every resume. */
  wall_seconds: number;
  /** ISO 8601 time the run was created. */
  started_at: string;
  /** ISO 8601 time the latest process ended it; null while running. */
  ended_at: string | null;
  /** `run.tags` of the config. */
  tags: string[];
  /** The message of the error that ended the run; null when none did. */
  error: string | null;
  /** The run directory whose config this run reran, if any. */
  rerun_of: string | null;
  /** `timm.models.VisionTransformer(**timm)` loads this run's checkpoints with `strict=True`. */
  timm: TimmArgs;
  /** Each resume: when, from which one-based epoch and step, and the command. */
  resumes: { at: string; epoch: number; step: number; command: string[] }[];
}

/**
 * @param path summary.json
 * @param summary its contents
 */
export function writeSummary(path: string, summary: RunSummary): void {
  writeFileAtomic(path, JSON.stringify(summary, null, 2) + "\n");
}

/**
 * @param path summary.json
 * @returns its contents
 */
export function readSummary(path: string): RunSummary {
  return JSON.parse(readFileSync(path, "utf8")) as RunSummary;
}
