/**
 * Which parameters train, as `train.freeze` says: all (`none`), only the head and fc_norm
 * (`backbone`, a linear probe), or all but those under a list of timm name prefixes.
 */
import { ConfigError } from "../errors.ts";

/** What `train.freeze` holds. */
export type FreezeSetting = "none" | "backbone" | readonly string[];

/**
 * The parameters `train.freeze` keeps from training.
 * @param names the model's parameter names (timm's), in declaration order
 * @param freeze train.freeze
 * @returns the names that do not train
 * @throws {ConfigError} when a prefix names no parameter (a typo would otherwise freeze nothing)
 *   or when nothing would be left to train
 * @example
 * ```ts
 * import { frozenNames } from "./freeze.ts";
 * const names = ["patch_embed.proj.weight", "blocks.0.norm1.weight", "fc_norm.weight", "head.weight"];
 * const frozen = frozenNames(names, "backbone");
 * if ([...frozen].join() !== "patch_embed.proj.weight,blocks.0.norm1.weight") throw new Error("wrong");
 * ```
 */
export function frozenNames(names: readonly string[], freeze: FreezeSetting): Set<string> {
  if (freeze === "none") return new Set();
  if (freeze === "backbone") return new Set(names.filter((n) => !/^(head|fc_norm)\./.test(n)));
  for (const prefix of freeze) {
    if (!names.some((n) => n.startsWith(prefix))) {
      throw new ConfigError(
        `train.freeze: prefix '${prefix}' names no parameter of the model (names are timm's, e.g. ${
          names.slice(0, 3).join(", ")
        })`,
      );
    }
  }
  const frozen = new Set(names.filter((n) => freeze.some((prefix) => n.startsWith(prefix))));
  if (frozen.size === names.length) {
    throw new ConfigError(`train.freeze: [${freeze.join(", ")}] freezes every parameter; nothing would train`);
  }
  return frozen;
}
