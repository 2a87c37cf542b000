/** `viz`: pictures of what a run's checkpoint learned; prints the folder on stdout. */
import { visualizeRun } from "../lib/viz/visualize.ts";
import { type CheckpointFlags, parseCheckpointFlags, positiveInt } from "./checkpoint_flags.ts";
import { say } from "./progress.ts";

/** Flags of `viz`. */
export interface VizFlags extends CheckpointFlags {
  images?: string;
  out?: string;
}

/**
 * @param runDir the run directory
 * @param flags parsed flags
 */
export async function viz(runDir: string, flags: VizFlags): Promise<void> {
  const images = flags.images === undefined ? undefined : positiveInt("--images", flags.images);
  const started = performance.now();
  const r = await visualizeRun(runDir, {
    ...parseCheckpointFlags(flags),
    ...(images !== undefined ? { images } : {}),
    ...(flags.out !== undefined ? { out: flags.out } : {}),
  });
  const seconds = (performance.now() - started) / 1000;
  say(
    `${r.split}: acc ${r.acc.toFixed(4)} over ${r.count} examples (${r.checkpoint}); ` +
      `${r.files.length} files in ${seconds.toFixed(1)} s, see ${r.dir}/index.md\n`,
  );
  console.log(r.dir);
}
