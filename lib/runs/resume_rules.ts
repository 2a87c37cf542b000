/**
 * What a resume may change. One list decides it: the check, its error message, the rewrite of
 * config.yaml and the docs (a test keeps docs/reproducibility.md naming every key) all read it.
 */
import { configHash } from "../config/hash.ts";
import type { Config } from "../config/schema.ts";

/**
 * Keys that change how fast a run trains, never a byte it writes (tests/prefetch_test.ts and
 * tests/workers_test.ts check it): runs that differ only in them are the same experiment, so
 * `compare --group-by` does not split on them, and a resume may change them.
 */
export const SAME_RESULT_KEYS: readonly string[] = Object.freeze(["run.prefetch", "run.workers"]);

/**
 * Keys a resume may change: none alters what was already trained (more epochs stretch the
 * schedule's tail only when the run is extended, which is what asking for more epochs means).
 */
export const RESUMABLE_KEYS: readonly string[] = Object.freeze([
  "train.epochs",
  "train.eval_batch_size",
  "run.backend",
  "run.tags",
  ...SAME_RESULT_KEYS,
]);

/**
 * Hash of everything that decides the training trajectory: every key but {@linkcode RESUMABLE_KEYS}.
 * @param config a resolved config
 * @returns hex digest
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * const a = configFromObject({ train: { epochs: 5 } });
 * const b = configFromObject({ train: { epochs: 9 }, run: { prefetch: 0 } });
 * if (trajectoryHash(a) !== trajectoryHash(b)) throw new Error("epochs and prefetch may change");
 * ```
 */
export function trajectoryHash(config: Config): string {
  const c = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const key of RESUMABLE_KEYS) {
    const [s, k] = key.split(".") as [string, string];
    delete c[s]![k];
  }
  return configHash(c);
}

/**
 * @param a one config
 * @param b another
 * @param ignore `section.key`s not to compare
 * @returns the first key whose value differs, as `section.key was X, now Y`, or null
 */
export function firstDifference(a: Config, b: Config, ignore: readonly string[] = []): string | null {
  for (const [section, values] of Object.entries(a)) {
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      if (ignore.includes(`${section}.${key}`)) continue;
      const other = (b as unknown as Record<string, Record<string, unknown>>)[section]![key];
      if (JSON.stringify(value) !== JSON.stringify(other)) {
        return `${section}.${key} was ${JSON.stringify(value)}, now ${JSON.stringify(other)}`;
      }
    }
  }
  return null;
}
