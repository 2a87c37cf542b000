/** Stable hashing of configs and files. */
import { createHash } from "node:crypto";
import { withoutLaterDefaults } from "./schema.ts";

/**
 * JSON with object keys sorted at every level, so equal configs serialise equally.
 * @param value any JSON value
 * @returns canonical JSON text
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * SHA-256 of a config's canonical JSON.
 * @param config the resolved config (or any JSON value)
 * @returns 64 hex digits; run ids use the first 6
 * @example
 * ```ts
 * import { configFromObject } from "./load.ts";
 * import { configHash } from "./hash.ts";
 * const a = configHash(configFromObject({ model: { depth: 2 } }));
 * const b = configHash(configFromObject({}, ["model.depth=2"]));
 * if (a !== b || a.length !== 64) throw new Error("the same config should hash the same");
 * ```
 */
export function configHash(config: unknown): string {
  return createHash("sha256").update(canonicalJson(withoutLaterDefaults(config))).digest("hex");
}
