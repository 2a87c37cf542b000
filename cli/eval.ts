/** `eval`: a run's checkpoint on a split; one JSON line on stdout. */
import { UsageError } from "../lib/errors.ts";
import { evaluateRun } from "../lib/runs/evaluate_run.ts";
import type { BackendName } from "../lib/config/schema.ts";
import { BACKENDS } from "../lib/config/schema.ts";
import { say } from "./progress.ts";

/** Flags of `eval`. */
export interface EvalFlags {
  checkpoint: string;
  split: string;
  limit?: string;
  predictions?: string;
  backend?: string;
  batchSize?: string;
}

/**
 * @param runDir the run directory
 * @param flags parsed flags
 */
export async function evalRun(runDir: string, flags: EvalFlags): Promise<void> {
  const checkpoint = _oneOf("--checkpoint", flags.checkpoint, ["best", "last"] as const);
  const split = _oneOf("--split", flags.split, ["train", "val", "test"] as const);
  const backend = flags.backend === undefined ? undefined : _oneOf("--backend", flags.backend, BACKENDS);
  const limit = flags.limit === undefined ? undefined : _positiveInt("--limit", flags.limit);
  const batchSize = flags.batchSize === undefined ? undefined : _positiveInt("--batch-size", flags.batchSize);
  const r = await evaluateRun(runDir, {
    checkpoint,
    split,
    ...(limit !== undefined ? { limit } : {}),
    ...(flags.predictions !== undefined ? { predictions: flags.predictions } : {}),
    ...(backend !== undefined ? { backend: backend as BackendName } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
  });
  say(
    `${r.split}: acc ${r.acc.toFixed(4)}, loss ${
      r.loss.toFixed(4)
    } over ${r.count} examples (${r.checkpoint}, epoch ${r.epoch})\n`,
  );
  console.log(
    JSON.stringify({
      split: r.split,
      loss: r.loss,
      acc: r.acc,
      count: r.count,
      checkpoint: r.checkpoint,
      epoch: r.epoch,
    }),
  );
}

function _oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got '${value}'`);
  }
  return value as T;
}

function _positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got '${value}'`);
  return n;
}
