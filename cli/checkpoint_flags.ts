/** The flags that choose a run's checkpoint, split and backend, shared by `eval` and `viz`. */
import { type Command, Option } from "commander";
import { type BackendName, BACKENDS } from "../lib/config/schema.ts";
import { UsageError } from "../lib/errors.ts";
import { EVAL_CHECKPOINTS, type EvalCheckpoint } from "../lib/runs/evals.ts";

/** The raw flags {@linkcode addCheckpointOptions} declares. */
export interface CheckpointFlags {
  checkpoint: string;
  split: string;
  limit?: string;
  backend?: string;
  batchSize?: string;
}

/** Those flags checked and typed, absent ones left out. */
export interface CheckpointChoice {
  checkpoint: EvalCheckpoint;
  split: "train" | "val" | "test";
  limit?: number;
  backend?: BackendName;
  batchSize?: number;
}

/**
 * @param command `eval` or `viz`
 * @returns the command, with --checkpoint, --split, --limit, --backend, --batch-size and --debug
 */
export function addCheckpointOptions(command: Command): Command {
  return command
    .option("--checkpoint <which>", "best, last or ema (the weights' moving average)", "best")
    .option("--split <split>", "val, test or train", "val")
    .option("--limit <n>", "only the first N examples of the split")
    .addOption(new Option("--backend <name>", "tfjs backend").choices([...BACKENDS]))
    .option("--batch-size <n>", "examples per forward pass")
    .option("--debug", "show stack traces on errors");
}

/**
 * @param flags as commander parsed them
 * @returns the choice, or a {@linkcode UsageError} naming the flag
 */
export function parseCheckpointFlags(flags: CheckpointFlags): CheckpointChoice {
  const backend = flags.backend === undefined ? undefined : oneOf("--backend", flags.backend, BACKENDS);
  const limit = flags.limit === undefined ? undefined : positiveInt("--limit", flags.limit);
  const batchSize = flags.batchSize === undefined ? undefined : positiveInt("--batch-size", flags.batchSize);
  return {
    checkpoint: oneOf("--checkpoint", flags.checkpoint, EVAL_CHECKPOINTS),
    split: oneOf("--split", flags.split, ["train", "val", "test"] as const),
    ...(limit !== undefined ? { limit } : {}),
    ...(backend !== undefined ? { backend } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
  };
}

/**
 * @param flag the flag's name, for the message
 * @param value what was given
 * @param allowed the choices
 * @returns `value`, typed
 */
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got '${value}'`);
  }
  return value as T;
}

/**
 * @param flag the flag's name, for the message
 * @param value what was given
 * @returns it as an integer ≥ 1
 */
export function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got '${value}'`);
  return n;
}
