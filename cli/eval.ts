/** `eval`: a run's checkpoint on a split; one JSON line on stdout. */
import { evaluateRun } from "../lib/runs/evaluate_run.ts";
import { type CheckpointFlags, parseCheckpointFlags } from "./checkpoint_flags.ts";
import { say } from "./progress.ts";

/** Flags of `eval`. */
export interface EvalFlags extends CheckpointFlags {
  predictions?: string;
  /** False with --no-record. */
  record?: boolean;
}

/**
 * @param runDir the run directory
 * @param flags parsed flags
 */
export async function evalRun(runDir: string, flags: EvalFlags): Promise<void> {
  const r = await evaluateRun(runDir, {
    ...parseCheckpointFlags(flags),
    ...(flags.predictions !== undefined ? { predictions: flags.predictions } : {}),
    record: flags.record !== false,
  });
  say(
    `${r.split}: acc ${r.acc.toFixed(4)}, loss ${
      r.loss.toFixed(4)
    } over ${r.count} examples (${r.checkpoint}, epoch ${r.epoch})\n`,
  );
  if (r.recordError) say(`vitlab: warning: not kept for compare: ${r.recordError}\n`);
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
