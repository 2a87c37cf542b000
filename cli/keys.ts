/** `keys`: the config keys as a Markdown table on stdout, or regenerated inside a docs page. */
import { keysMarkdown, withKeysTable } from "../lib/config/describe.ts";
import { UsageError } from "../lib/errors.ts";

/**
 * Prints the table, or with `write` regenerates it in place in that page (docs/configuration.md).
 * @param flags `--write FILE`
 */
export function keys(flags: { write?: string } = {}): void {
  if (flags.write === undefined) {
    console.log(keysMarkdown());
    return;
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(flags.write);
  } catch (err) {
    throw new UsageError(`--write ${flags.write}: cannot read it (${(err as Error).name})`);
  }
  try {
    Deno.writeTextFileSync(flags.write, withKeysTable(text));
  } catch (err) {
    throw new UsageError(`--write ${flags.write}: ${(err as Error).message}`);
  }
  console.error(`regenerated the key table in ${flags.write}; run deno fmt to align it`);
}
