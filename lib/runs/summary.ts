/** summary.json: the state and outcome of a run, rewritten atomically as it progresses. */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./atomic.ts";
import type { TimmArgs } from "../model/timm_args.ts";
import type { MetricsRow } from "./metrics.ts";

/** A run's status. */
export type RunStatus = "running" | "completed" | "failed" | "interrupted" | "diverged";

/** The contents of summary.json. */
export interface RunSummary {
  status: RunStatus;
  name: string;
  run_dir: string;
  config_hash: string;
  param_count: number;
  backend: string;
  device: string;
  epochs: number;
  epochs_completed: number;
  steps: number;
  best_epoch: number | null;
  best_val_acc: number | null;
  best_val_loss: number | null;
  final: MetricsRow | null;
  wall_seconds: number;
  started_at: string;
  ended_at: string | null;
  tags: string[];
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
