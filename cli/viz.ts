/** `viz`: pictures of what a run's checkpoint learned; prints the folder on stdout. */
import { type BackendName, BACKENDS } from "../lib/config/schema.ts";
import { UsageError } from "../lib/errors.ts";
import { visualizeRun } from "../lib/viz/visualize.ts";
import { say } from "./progress.ts";

/** Flags of `viz`. */
export interface VizFlags {
  checkpoint: string;
  split: string;
  images?: string;
  out?: string;
  limit?: string;
  backend?: string;
  batchSize?: string;
}

/**
 * @param runDir the run directory
 * @param flags parsed flags
 */
export async function viz(runDir: string, flags: VizFlags): Promise<void> {
  const checkpoint = _oneOf("--checkpoint", flags.checkpoint, ["best", "last"] as const);
  const split = _oneOf("--split", flags.split, ["train", "val", "test"] as const);
  const backend = flags.backend === undefined ? undefined : _oneOf("--backend", flags.backend, BACKENDS);
  const images = flags.images === undefined ? undefined : _positiveInt("--images", flags.images);
  const limit = flags.limit === undefined ? undefined : _positiveInt("--limit", flags.limit);
  const batchSize = flags.batchSize === undefined ? undefined : _positiveInt("--batch-size", flags.batchSize);
  const started = performance.now();
  const r = await visualizeRun(runDir, {
    checkpoint,
    split,
    ...(images !== undefined ? { images } : {}),
    ...(flags.out !== undefined ? { out: flags.out } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(backend !== undefined ? { backend: backend as BackendName } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  say(
    `${r.split}: acc ${r.acc.toFixed(4)} over ${r.count} examples (${r.checkpoint}); ` +
      `${r.files.length} files in ${seconds.toFixed(1)} s, see ${r.dir}/index.md\n`,
  );
  console.log(r.dir);
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
