/** Finding and reading every run under the given paths, each named relative to their common parent. */
import { dirname, relative, resolve, sep } from "node:path";
import { RunError, UsageError } from "../errors.ts";
import { findRuns, type SkippedDir } from "./find_runs.ts";
import { readRun, type RunRecord } from "./read_run.ts";

/** What {@link loadRuns} read. */
export interface LoadedRuns {
  /** The runs, in the order found. */
  runs: RunRecord[];
  /** Folders that are not runs, and runs whose config.yaml could not be read. */
  skipped: SkippedDir[];
  /** Every problem worth telling the user, one line each (unreadable rows, summaries, configs). */
  warnings: string[];
}

/**
 * Finds and reads every run under the given paths; folders that are not runs, and runs that
 * cannot be read, are skipped with a reason rather than failing the whole comparison.
 * @param paths run directories or folders above them
 * @returns the runs read, with ids relative to their common parent
 * @throws {UsageError} when a path does not exist, or no readable run is found
 * @example
 * ```ts
 * import { loadRuns } from "./load_runs.ts";
 * const root = Deno.makeTempDirSync();
 * for (const seed of [0, 1]) {
 *   Deno.mkdirSync(`${root}/seeds/run${seed}`, { recursive: true });
 *   Deno.writeTextFileSync(`${root}/seeds/run${seed}/config.yaml`, `train: {seed: ${seed}}\n`);
 *   Deno.writeTextFileSync(`${root}/seeds/run${seed}/summary.json`, '{"status": "completed"}');
 * }
 * const { runs } = loadRuns([root]);
 * if (runs.map((r) => r.id).join() !== "run0,run1") throw new Error("wrong");
 * ```
 */
export function loadRuns(paths: string[]): LoadedRuns {
  const found = findRuns(paths);
  const loaded: LoadedRuns = { runs: [], skipped: [...found.skipped], warnings: [] };
  for (const dir of found.runs) {
    try {
      const run = readRun(dir);
      loaded.runs.push(run);
      loaded.warnings.push(...run.warnings);
    } catch (err) {
      if (!(err instanceof RunError)) throw err;
      loaded.warnings.push(`${err.message}; run skipped`);
      loaded.skipped.push({ path: dir, reason: err.message });
    }
  }
  if (loaded.runs.length === 0) {
    const what = found.runs.length ? "no readable run directory" : "no run directory";
    throw new UsageError(
      `${what} found under ${paths.join(", ")} (a run directory holds config.yaml and metrics.csv or summary.json)`,
    );
  }
  const parent = commonParent(loaded.runs.map((r) => r.dir));
  for (const run of loaded.runs) run.id = relative(parent, resolve(run.dir));
  return loaded;
}

/**
 * @param dirs directories
 * @returns the deepest folder that holds them all (for one directory, its parent)
 * @example
 * ```ts
 * import { commonParent } from "./load_runs.ts";
 * if (commonParent(["/r/a/x", "/r/a/y", "/r/b/z"]) !== "/r") throw new Error("wrong");
 * ```
 */
export function commonParent(dirs: string[]): string {
  const parts = dirs.map((d) => dirname(resolve(d)).split(sep));
  const first = parts[0] ?? [];
  let n = first.length;
  for (const p of parts) {
    let i = 0;
    while (i < n && i < p.length && p[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join(sep) || sep;
}
