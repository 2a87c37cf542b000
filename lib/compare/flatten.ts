/** Nested config objects as flat `section.key` → value maps, the form `--set` and `keys` use. */

/** A config value as YAML gives it: a scalar, a list or null. */
export type ConfigValue = string | number | boolean | null | ConfigValue[] | { [key: string]: ConfigValue };

/**
 * Flattens nested objects into dotted keys; lists stay values.
 * @param value a parsed config (or any nested object)
 * @param prefix the key path so far
 * @returns `{"model.depth": 6, "train.betas": [0.9, 0.999], …}` in the document's key order
 * @example
 * ```ts
 * import { flattenConfig } from "./flatten.ts";
 * const flat = flattenConfig({ model: { depth: 6 }, train: { betas: [0.9, 0.999] } });
 * if (JSON.stringify(flat) !== '{"model.depth":6,"train.betas":[0.9,0.999]}') throw new Error("wrong");
 * ```
 */
export function flattenConfig(value: unknown, prefix = ""): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    if (prefix) out[prefix] = value as ConfigValue;
    return out;
  }
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) Object.assign(out, flattenConfig(v, path));
    else out[path] = v as ConfigValue;
  }
  return out;
}

/**
 * @param value a config value (undefined: the key is missing)
 * @returns a canonical text for comparing values and showing them in tables
 * @example
 * ```ts
 * import { configText } from "./flatten.ts";
 * if (configText([0.5, 0.5]) !== "[0.5,0.5]" || configText(undefined) !== "") throw new Error("wrong");
 * ```
 */
export function configText(value: ConfigValue | undefined): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}
