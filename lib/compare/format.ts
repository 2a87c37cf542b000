/**
 * Rendering a comparison table: an aligned text table (colours optional), CSV, JSON, or a
 * Markdown table laid out as `deno fmt` would leave it.
 */
import { stringify } from "csv-stringify/sync";
import { type Cell, cellText, type Column, type ComparisonTable, isMeanStd } from "./table.ts";

/** The output formats. */
export const FORMATS = ["table", "csv", "json", "md"] as const;

/** One of {@link FORMATS}. */
export type Format = typeof FORMATS[number];

/** Options of {@link formatTable}. */
export interface FormatOptions {
  /** ANSI colours (table format only): bold header, coloured status, best val_acc in bold. */
  color?: boolean;
}

/**
 * Renders a comparison table as `deno task compare` prints it.
 * @param table a (sorted) comparison table
 * @param format table, csv, json or md
 * @param options colours for the table format
 * @returns the text, ending in a newline
 * @example
 * ```ts
 * import { formatTable } from "./format.ts";
 * const table = {
 *   columns: [{ key: "run", kind: "text" as const }, { key: "val_acc", kind: "number" as const, digits: 4 }],
 *   rows: [{ run: "a", val_acc: 0.91234 }],
 *   keys: [],
 *   configKeys: [],
 * };
 * if (formatTable(table, "csv") !== "run,val_acc\na,0.91234\n") throw new Error("wrong");
 * if (!formatTable(table, "md").includes("| a   |  0.9123 |")) throw new Error("wrong");
 * ```
 */
export function formatTable(table: ComparisonTable, format: Format, options: FormatOptions = {}): string {
  switch (format) {
    case "table":
      return _text(table, options.color ?? false);
    case "md":
      return _markdown(table);
    case "csv":
      return _csv(table);
    case "json":
      return _json(table);
  }
}

/**
 * @param column a column
 * @param row its row
 * @returns the cell as table and Markdown output show it
 */
export function humanText(column: Column, row: Record<string, Cell>): string {
  const cell = row[column.key];
  if (cell === undefined) return "-";
  switch (column.kind) {
    case "config":
      return printable(cellText(cell));
    case "text":
      return cell === null ? "-" : printable(cellText(cell));
    case "integer": {
      if (typeof cell !== "number") return "-";
      const text = cell.toLocaleString("en-US");
      const of = column.of === undefined ? undefined : row[column.of];
      return typeof of === "number" ? `${text}/${of.toLocaleString("en-US")}` : text;
    }
    case "number":
      return typeof cell === "number" ? _fixed(cell, column.digits ?? 4) : "-";
    case "stat": {
      if (!isMeanStd(cell) || cell.n === 0) return "-";
      const mean = _fixed(cell.mean, column.digits ?? 4);
      return cell.std === null || cell.std === 0 ? mean : `${mean} ± ${_fixed(cell.std, column.digits ?? 4)}`;
    }
  }
}

/**
 * Text a terminal shows as it is: control characters (newlines, ANSI escapes from a hand-edited
 * summary.json) become visible escapes, so a cell can neither break the table nor paint it.
 * @param text a cell's text
 * @returns the text with each control or format character written as `\n`, `\t` or `\u{…}`
 * @example
 * ```ts
 * import { printable } from "./format.ts";
 * if (printable("a\nb\u001b[31m") !== "a\\nb\\u{1b}[31m") throw new Error(printable("a\nb\u001b[31m"));
 * ```
 */
export function printable(text: string): string {
  return text.replace(
    /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,
    (c) => c === "\n" ? "\\n" : c === "\t" ? "\\t" : c === "\r" ? "\\r" : `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
}

function _fixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value);
  const text = value.toFixed(digits);
  return digits === 0 ? Number(text).toLocaleString("en-US") : text;
}

function _right(column: Column): boolean {
  return column.kind === "integer" || column.kind === "number" || column.kind === "stat";
}

function _human(table: ComparisonTable): { columns: Column[]; cells: string[][] } {
  const columns = table.columns.filter((c) => c.only !== "machine");
  return { columns, cells: table.rows.map((row) => columns.map((c) => humanText(c, row))) };
}

function _widths(columns: Column[], cells: string[][], min = 0): number[] {
  return columns.map((c, i) => Math.max(min, c.key.length, ...cells.map((r) => r[i]!.length)));
}

const _ANSI = {
  bold: "\x1b[1m",
  green: "\x1b[32m",
  red: "\x1b[31m",
  yellow: "\x1b[33m",
  cyan: "\x1b[36m",
  reset: "\x1b[0m",
};

function _statusColor(status: string): string {
  if (/\bcompleted\b/.test(status) && !/failed|diverged|interrupted|running/.test(status)) return _ANSI.green;
  if (/failed|diverged/.test(status)) return _ANSI.red;
  if (/interrupted|unknown/.test(status)) return _ANSI.yellow;
  if (/running/.test(status)) return _ANSI.cyan;
  return "";
}

function _text(table: ComparisonTable, color: boolean): string {
  const { columns, cells } = _human(table);
  const widths = _widths(columns, cells);
  const pad = (text: string, i: number) =>
    _right(columns[i]!) ? text.padStart(widths[i]!) : text.padEnd(i === columns.length - 1 ? 0 : widths[i]!);
  const paint = (text: string, code: string) => (color && code ? `${code}${text}${_ANSI.reset}` : text);
  const accAt = columns.findIndex((c) => c.key === "val_acc");
  const best = Math.max(
    ...table.rows.map((r) => {
      const v = r.val_acc;
      return typeof v === "number" ? v : isMeanStd(v) ? v.mean : NaN;
    }).filter(Number.isFinite),
  );
  const lines = [columns.map((c, i) => paint(pad(c.key, i), _ANSI.bold)).join("  ").trimEnd()];
  cells.forEach((row, r) => {
    const cellsOut = row.map((text, i) => {
      const key = columns[i]!.key;
      const v = table.rows[r]![key];
      if (key === "status") return paint(pad(text, i), _statusColor(text));
      if (i === accAt && (v === best || (isMeanStd(v) && v.mean === best))) return paint(pad(text, i), _ANSI.bold);
      return pad(text, i);
    });
    lines.push(cellsOut.join("  ").trimEnd());
  });
  return lines.join("\n") + "\n";
}

function _markdown(table: ComparisonTable): string {
  const { columns } = _human(table);
  const cells = _human(table).cells.map((row) => row.map((t) => t.replaceAll("|", "\\|")));
  const widths = _widths(columns, cells, 3);
  const line = (texts: string[]) =>
    `| ${texts.map((t, i) => (_right(columns[i]!) ? t.padStart(widths[i]!) : t.padEnd(widths[i]!))).join(" | ")} |`;
  const rule = columns.map((c, i) => (_right(c) ? `${"-".repeat(widths[i]! - 1)}:` : "-".repeat(widths[i]!)));
  return [line(columns.map((c) => c.key)), `| ${rule.join(" | ")} |`, ...cells.map(line)].join("\n") + "\n";
}

function _machineColumns(table: ComparisonTable): Column[] {
  return table.columns.filter((c) => c.only !== "human");
}

function _jsonValue(cell: Cell): unknown {
  if (cell === undefined) return null;
  if (typeof cell === "number") return Number.isFinite(cell) ? cell : null;
  if (isMeanStd(cell)) return { mean: cell.n ? cell.mean : null, std: cell.std, n: cell.n };
  return cell;
}

function _json(table: ComparisonTable): string {
  const columns = _machineColumns(table);
  const rows = table.rows.map((row) => Object.fromEntries(columns.map((c) => [c.key, _jsonValue(row[c.key])])));
  return JSON.stringify(rows, null, 2) + "\n";
}

function _csvText(cell: Cell): string {
  if (cell === undefined || cell === null) return "";
  if (typeof cell === "number") return String(cell);
  return cellText(cell);
}

function _csv(table: ComparisonTable): string {
  const columns = _machineColumns(table);
  const header = columns.flatMap((c) => (c.kind === "stat" ? [`${c.key}_mean`, `${c.key}_std`] : [c.key]));
  const records = table.rows.map((row) =>
    columns.flatMap((c) => {
      const cell = row[c.key];
      if (c.kind !== "stat") return [_csvText(cell)];
      if (!isMeanStd(cell) || cell.n === 0) return ["", ""];
      return [String(cell.mean), cell.std === null ? "" : String(cell.std)];
    })
  );
  return stringify([header, ...records]);
}
