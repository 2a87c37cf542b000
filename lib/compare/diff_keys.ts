/** Which config keys set runs apart: the only ones worth a column when comparing them. */
import { configText, type ConfigValue } from "./flatten.ts";

/**
 * @param configs flattened configs, one per run
 * @param ignore keys never to return (e.g. the `--group-by` key)
 * @returns the keys whose value is not the same in every config (a key missing from some
 *   counts as differing), in the order they first appear (the schema's order in config.yaml)
 * @example
 * ```ts
 * import { differingKeys } from "./diff_keys.ts";
 * const keys = differingKeys([
 *   { "model.depth": 2, "model.d_model": 32, "train.seed": 0 },
 *   { "model.depth": 4, "model.d_model": 32, "train.seed": 1 },
 * ], ["train.seed"]);
 * if (keys.join() !== "model.depth") throw new Error("wrong");
 * ```
 */
export function differingKeys(configs: Record<string, ConfigValue>[], ignore: string[] = []): string[] {
  const keys: string[] = [];
  const seen = new Set(ignore);
  for (const config of configs) {
    for (const key of Object.keys(config)) {
      if (seen.has(key)) continue;
      seen.add(key);
      const first = configs[0]?.[key];
      // undefined (missing) and null both differ from each other: configText keeps them apart.
      const text = (v: ConfigValue | undefined) => (v === undefined ? "\u0000missing" : configText(v));
      if (configs.some((c) => text(c[key]) !== text(first))) keys.push(key);
    }
  }
  return keys;
}
