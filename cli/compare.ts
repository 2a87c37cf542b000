/**
 * `compare`: one row per run (or per group with --group-by) on stdout, warnings on stderr,
 * learning curves to an SVG or PNG file with --plot. Never loads tfjs: it starts at once.
 */
import { writeFileSync } from "node:fs";
import { extname } from "node:path";
import { groupTable } from "../lib/compare/aggregate.ts";
import { FORMATS, formatTable } from "../lib/compare/format.ts";
import { loadRuns } from "../lib/compare/load_runs.ts";
import { runTable, sortTable } from "../lib/compare/table.ts";
import { RunError, UsageError } from "../lib/errors.ts";

/** Flags of `compare`. */
export interface CompareFlags {
  /** Column or config key, optionally `:asc` / `:desc` (default val_acc, best first). */
  sort?: string;
  /** table (default), csv, json or md. */
  format?: string;
  /** Write learning curves to this .svg or .png file. */
  plot?: string;
  /** Aggregate runs that differ only in this config key (mean ± std). */
  groupBy?: string;
  /** List the folders skipped as not runs. */
  verbose?: boolean;
}

/**
 * @param paths run directories or folders above them (default: `runs`)
 * @param flags parsed flags
 */
export async function compare(paths: string[], flags: CompareFlags): Promise<void> {
  const format = _oneOf("--format", flags.format ?? "table", FORMATS);
  const plotKind = flags.plot === undefined ? undefined : _plotKind(flags.plot);
  const loaded = loadRuns(paths.length ? paths : ["runs"]);
  for (const warning of loaded.warnings) _say(`warning: ${warning}`);
  if (flags.verbose) {
    for (const s of loaded.skipped) _say(`skipped ${s.path}: ${s.reason}`);
    _say(`${loaded.runs.length} run${loaded.runs.length === 1 ? "" : "s"} found`);
  }
  const table = flags.groupBy === undefined ? runTable(loaded.runs) : groupTable(loaded.runs, flags.groupBy);
  sortTable(table, flags.sort);
  const color = format === "table" && Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  _write(formatTable(table, format, { color }));

  if (flags.plot !== undefined) {
    const { plotSvg, selectPlotRuns } = await import("../lib/compare/plot.ts");
    const { runs, note } = selectPlotRuns(loaded.runs);
    if (note !== null) _say(`note: ${note}`);
    const svg = await plotSvg(runs, flags.groupBy === undefined ? {} : { groupBy: flags.groupBy });
    let bytes: Uint8Array;
    if (plotKind === "png") {
      const { svgToPng } = await import("../lib/compare/png.ts");
      bytes = await svgToPng(svg);
    } else {
      bytes = new TextEncoder().encode(svg);
    }
    try {
      writeFileSync(flags.plot, bytes);
    } catch (err) {
      throw new RunError(`cannot write ${flags.plot} (${(err as { code?: string }).code ?? (err as Error).message})`);
    }
    const lines = loaded.runs.filter((r) => r.metrics.length > 0).length;
    _say(`plot: ${flags.plot} (${lines} run${lines === 1 ? "" : "s"} with curves)`);
  }
}

function _plotKind(path: string): "svg" | "png" {
  const ext = extname(path).toLowerCase();
  if (ext === ".svg" || ext === ".png") return ext === ".svg" ? "svg" : "png";
  throw new UsageError(`--plot: expected a file name ending in .svg or .png, got '${path}'`);
}

function _oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(`${flag}: expected one of ${allowed.join(", ")}, got '${value}'`);
  }
  return value as T;
}

const _encoder = new TextEncoder();

/** Writes all of `text` to stdout (a pipe may take it in pieces). */
function _write(text: string): void {
  let bytes = _encoder.encode(text);
  while (bytes.length) bytes = bytes.subarray(Deno.stdout.writeSync(bytes));
}

/** One line to stderr, in the CLI's own form (cli/progress.ts is not imported: it pulls in tfjs types). */
function _say(line: string): void {
  Deno.stderr.writeSync(_encoder.encode(`vitlab: ${line}\n`));
}
