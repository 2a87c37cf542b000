/** Writing a resolved config back out as YAML. */
import { stringify } from "yaml";
import { type Config, withoutLaterDefaults } from "./schema.ts";

/**
 * @param config a resolved config
 * @param header comment lines put on top (without `#`)
 * @returns YAML text that {@linkcode loadConfig} reads back to the same config
 */
export function configToYaml(config: Config, header: string[] = []): string {
  const comments = header.map((line) => `# ${line}\n`).join("");
  return comments + stringify(withoutLaterDefaults(config), { lineWidth: 0 });
}
