/**
 * Finding run directories under the paths a user gives: a run directory holds `config.yaml`
 * and `metrics.csv` or `summary.json`. Folders are searched recursively; a run directory is
 * not searched further (its `checkpoints/` holds no runs).
 */
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { RUN_FILES } from "../runs/run_dir.ts";

/** A directory that was looked at and is not a run, with why. */
export interface SkippedDir {
  /** The directory, as found under the paths given. */
  path: string;
  /** Why it is not a run, in a few words, e.g. `no run files`. */
  reason: string;
}

/** What {@link findRuns} found. */
export interface FoundRuns {
  /** Run directories, in the order of the paths given, each folder's entries sorted by name. */
  runs: string[];
  /** Folders that are not runs: leaves without run files, half-written runs, unreadable folders. */
  skipped: SkippedDir[];
}

/**
 * @param dir a directory
 * @returns whether it holds `config.yaml` and `metrics.csv` or `summary.json`
 * @example
 * ```ts
 * import { isRunDir } from "./find_runs.ts";
 * if (isRunDir(Deno.makeTempDirSync())) throw new Error("an empty folder is no run");
 * ```
 */
export function isRunDir(dir: string): boolean {
  return _isFile(join(dir, RUN_FILES.config)) &&
    (_isFile(join(dir, RUN_FILES.metrics)) || _isFile(join(dir, RUN_FILES.summary)));
}

/**
 * Searches each path for run directories; a path may be a run directory itself.
 * @param paths run directories or folders above them
 * @returns the run directories (each once) and the folders skipped
 * @throws {UsageError} when a path does not exist or is not a directory
 * @example
 * ```ts
 * import { findRuns } from "./find_runs.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/a/run1`, { recursive: true });
 * Deno.writeTextFileSync(`${root}/a/run1/config.yaml`, "model: {depth: 2}\n");
 * Deno.writeTextFileSync(`${root}/a/run1/summary.json`, "{}");
 * Deno.mkdirSync(`${root}/notes`);
 * const found = findRuns([root]);
 * if (found.runs.length !== 1 || found.skipped[0]?.path !== `${root}/notes`) throw new Error("wrong");
 * ```
 */
export function findRuns(paths: string[]): FoundRuns {
  const found: FoundRuns = { runs: [], skipped: [] };
  const seen = new Set<string>();
  for (const path of paths) {
    if (!existsSync(path)) throw new UsageError(`${path}: no such file or directory`);
    if (!statSync(path).isDirectory()) {
      throw new UsageError(`${path}: not a directory (give a run directory or a folder of runs)`);
    }
    _walk(path, found, seen);
  }
  return found;
}

function _walk(dir: string, found: FoundRuns, seen: Set<string>): void {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    found.skipped.push({ path: dir, reason: _code(err) });
    return;
  }
  if (seen.has(real)) return; // the same folder reached twice (overlapping paths, symlinks)
  seen.add(real);
  if (isRunDir(dir)) {
    found.runs.push(dir);
    return;
  }
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    found.skipped.push({ path: dir, reason: `cannot read (${_code(err)})` });
    return;
  }
  const subdirs = names.filter((n) => _isDir(join(dir, n)));
  const files = new Set(names.filter((n) => !subdirs.includes(n)));
  if (files.has(RUN_FILES.config)) {
    found.skipped.push({
      path: dir,
      reason: `has ${RUN_FILES.config} but no ${RUN_FILES.metrics} or ${RUN_FILES.summary}`,
    });
  } else if (subdirs.length === 0) {
    found.skipped.push({ path: dir, reason: "no run files" });
  }
  for (const name of subdirs) {
    if (name.startsWith(".") || name === "node_modules") {
      found.skipped.push({ path: join(dir, name), reason: "hidden or node_modules, not searched" });
      continue;
    }
    _walk(join(dir, name), found, seen);
  }
}

function _isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function _isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function _code(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message;
}
