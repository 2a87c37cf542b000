/** `keys`: the config keys as a Markdown table on stdout. */
import { describeKeys } from "../lib/config/describe.ts";

/** Prints the table. */
export function keys(): void {
  const lines = ["| key | type | default | why |", "|---|---|---|---|"];
  for (const r of describeKeys()) lines.push(`| \`${r.key}\` | ${r.type} | ${r.default} | ${r.doc} |`);
  console.log(lines.join("\n"));
}
