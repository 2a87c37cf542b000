/** Run directories: `<runs>/<name>/<YYYYMMDD-HHMMSS>-<hash6>[-N]/`, never reused. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { RunError, UsageError } from "../errors.ts";

/** Files and folders inside a run directory. */
export const RUN_FILES = {
  config: "config.yaml",
  metrics: "metrics.csv",
  summary: "summary.json",
  env: "env.json",
  evals: "evals.json",
  checkpoints: "checkpoints",
  last: "checkpoints/last.safetensors",
  best: "checkpoints/best.safetensors",
  state: "checkpoints/state.safetensors",
  ema: "checkpoints/ema.safetensors",
} as const;

/**
 * @param date a time
 * @returns `YYYYMMDD-HHMMSS` in UTC, so ids sort by start time anywhere
 */
export function timestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${
    p(date.getUTCMinutes())
  }${p(date.getUTCSeconds())}`;
}

/**
 * Creates a new, empty run directory with its checkpoints folder.
 * @param runsDir root of all runs
 * @param name the run group (`run.name`)
 * @param hash the resolved config's hash; its first 6 hex digits go into the id
 * @param now start time
 * @returns the new directory's path
 * @throws {UsageError} when the runs directory cannot be created or written
 */
export function createRunDir(runsDir: string, name: string, hash: string, now: Date = new Date()): string {
  if (/[/\\]|^\.\.?$/.test(name)) throw new UsageError(`run.name '${name}' must not contain '/' or be '.' or '..'`);
  const parent = join(runsDir, name);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (err) {
    throw new UsageError(
      `cannot create runs directory ${parent} (${(err as { code?: string }).code ?? (err as Error).message})`,
    );
  }
  const base = `${timestamp(now)}-${hash.slice(0, 6)}`;
  // mkdir without `recursive` fails if the directory exists: that is what makes ids unique
  // when identical runs start in the same second, even from parallel processes.
  for (let n = 0; n < 1000; n++) {
    const dir = join(parent, n === 0 ? base : `${base}-${n}`);
    try {
      mkdirSync(dir);
      mkdirSync(join(dir, RUN_FILES.checkpoints));
      return dir;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "EEXIST") {
        throw new UsageError(`cannot create run directory ${dir} (${code ?? (err as Error).message})`);
      }
    }
  }
  throw new RunError(`could not find a free run directory name under ${parent}`);
}
