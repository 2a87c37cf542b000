/** `--rerun`: a new run from a run's config.yaml, once that file is shown to be what the run trained with. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { configHash } from "../config/hash.ts";
import { loadConfig, type LoadOptions } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { CheckpointError, UsageError } from "../errors.ts";
import { checkpointMatchesConfig } from "./evaluate_run.ts";
import { RUN_FILES } from "./run_dir.ts";

/**
 * Loads a run's config.yaml for a rerun, refusing one that no longer matches the run (an
 * edited or emptied file would otherwise rerun something else, or the default MNIST config).
 * @param runDir the run to rerun
 * @param options overrides, name and backend for the new run, applied after the check
 * @returns the config of the new run
 * @throws {UsageError} when runDir is not a run directory
 * @throws {CheckpointError} when config.yaml differs from what the run trained with
 * @example
 * ```ts
 * import { loadRerunConfig } from "./rerun.ts";
 * let refused = false;
 * try {
 *   loadRerunConfig(Deno.makeTempDirSync(), {});
 * } catch {
 *   refused = true;
 * }
 * if (!refused) throw new Error("an empty folder is no run");
 * ```
 */
export function loadRerunConfig(runDir: string, options: LoadOptions = {}): Config {
  const configPath = join(runDir, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UsageError(`--rerun ${runDir}: not a run directory (no ${RUN_FILES.config})`);
  const recorded = loadConfig(configPath);
  // The state and last checkpoint carry the config they were trained with; a run that died
  // before either has only its summary's hash (and no resume can have changed its config).
  const ckpt = [RUN_FILES.state, RUN_FILES.last].map((f) => join(runDir, f)).find((p) => existsSync(p));
  if (ckpt !== undefined) {
    checkpointMatchesConfig(ckpt, recorded, configPath);
  } else {
    let hash: unknown;
    try {
      hash = JSON.parse(readFileSync(join(runDir, RUN_FILES.summary), "utf8"))?.config_hash;
    } catch { /* no summary either: nothing to check against */ }
    if (typeof hash === "string" && hash !== "" && hash !== configHash(recorded)) {
      throw new CheckpointError(
        `${configPath} differs from the config run ${runDir} started with (its hash ${
          configHash(recorded).slice(0, 12)
        }…, ` +
          `the summary's ${hash.slice(0, 12)}…); was config.yaml edited?`,
      );
    }
  }
  return loadConfig(configPath, options);
}
