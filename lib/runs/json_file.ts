/** Reading a run's JSON files (summary.json, evals.json) tolerantly, as `compare` must. */
import { readFileSync } from "node:fs";

/**
 * Reads a file that should hold one JSON object.
 * @param path the file
 * @param warnings receives one line when the file exists but cannot be read, is not JSON, or is
 *   not an object
 * @param consequence what the caller goes without then, appended to those lines
 * @returns the object, or null when the file is missing or unusable
 * @example
 * ```ts
 * import { readJsonObject } from "./json_file.ts";
 * const path = `${Deno.makeTempDirSync()}/summary.json`;
 * Deno.writeTextFileSync(path, "[1]");
 * const warnings: string[] = [];
 * if (readJsonObject(path, warnings, "status unknown") !== null || !warnings[0]?.endsWith("not a JSON object; status unknown")) {
 *   throw new Error("wrong");
 * }
 * ```
 */
export function readJsonObject(path: string, warnings: string[], consequence: string): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "ENOENT") warnings.push(`${path}: cannot read (${code ?? (err as Error).message})`);
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    warnings.push(`${path}: not valid JSON (${(err as Error).message}); ${consequence}`);
    return null;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  warnings.push(`${path}: not a JSON object; ${consequence}`);
  return null;
}
