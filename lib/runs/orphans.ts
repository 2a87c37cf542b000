/** Temporary files that killed writers left behind in a run directory. */
import { join } from "node:path";

/**
 * Removes other processes' `*.tmp-PID` files from a run directory and its `checkpoints/` folder
 * (writeFileAtomic's temporaries, left by a `kill -9` mid-write). Call it only while holding the
 * run's lock: then no other process writes there, so every such file is an orphan.
 * @param runDir the run directory
 * @returns the removed files' paths, relative to runDir
 * @example
 * ```ts
 * import { removeOrphanTemps } from "./orphans.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/summary.json.tmp-999999999`, "{");
 * if (removeOrphanTemps(dir).length !== 1) throw new Error("orphan kept");
 * ```
 */
export function removeOrphanTemps(runDir: string): string[] {
  const removed: string[] = [];
  for (const sub of ["", "checkpoints"]) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(join(runDir, sub))];
    } catch {
      continue;
    }
    for (const e of entries) {
      const m = /\.tmp-(\d+)$/.exec(e.name);
      if (!e.isFile || !m || Number(m[1]) === Deno.pid) continue;
      try {
        Deno.removeSync(join(runDir, sub, e.name));
        removed.push(sub ? `${sub}/${e.name}` : e.name);
      } catch { /* gone already */ }
    }
  }
  return removed.sort();
}
