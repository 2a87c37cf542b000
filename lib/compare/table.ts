/**
 * The comparison table: one row per run with the config keys that differ between the runs and
 * the numbers that tell them apart, and its sorting. Rendering is in `format.ts`.
 */
import { UsageError } from "../errors.ts";
import { differingKeys } from "./diff_keys.ts";
import { configText, type ConfigValue } from "./flatten.ts";
import { evalColumn } from "../runs/evals.ts";
import type { RunRecord } from "./read_run.ts";

/** A mean over runs with its sample standard deviation (null for fewer than two values). */
export interface MeanStd {
  /** The mean over the runs that had a value. */
  mean: number;
  /** Sample standard deviation (n − 1); null for fewer than two values. */
  std: number | null;
  /** How many runs had a value. */
  n: number;
}

/** A table cell: a config value, a number, text, a mean ± std, or undefined for a missing key. */
export type Cell = ConfigValue | MeanStd | undefined;

/** What a column holds, which decides how it is aligned, formatted and sorted. */
export type ColumnKind = "text" | "config" | "integer" | "number" | "stat";

/** A column of a comparison table. */
export interface Column {
  /** Its header, and the name `--sort` takes. */
  key: string;
  /** What it holds: decides alignment, number format and sort order. */
  kind: ColumnKind;
  /** Decimals shown in table and Markdown output (number and stat columns). */
  digits?: number;
  /** Which way is better: the default sort order (high: descending). */
  better?: "high" | "low";
  /** Human formats show `value/row[of]` (epochs done of total). */
  of?: string;
  /** Shown only in table/Markdown output, or only in CSV/JSON. */
  only?: "human" | "machine";
}

/** Rows and columns, ready to sort and render. */
export interface ComparisonTable {
  /** The columns, in display order. */
  columns: Column[];
  /** One row per run (or group), keyed by column key. */
  rows: Record<string, Cell>[];
  /** The config keys that differ between the runs: the table's config columns. */
  keys: string[];
  /** Every config key the runs have: valid `--sort` keys even when they do not differ. */
  configKeys: string[];
}

/** The sort key when none is given: best validation accuracy, best first. */
export const DEFAULT_SORT = "val_acc";

/**
 * The metric columns every run has, after `run` and the differing config keys:
 * `params`, `epochs` (done; `epochs_total` in CSV/JSON), `val_acc` (best), `best_epoch`, the
 * recorded evaluations where some run has one (`ema_test_acc`, …: see {@linkcode evalColumns}),
 * `val_loss` (last epoch), `wall_s`, `img_s` (mean training images/s), `status`, and `dir` in
 * CSV/JSON.
 */
export const RUN_COLUMNS: readonly Column[] = [
  { key: "params", kind: "integer" },
  { key: "epochs", kind: "integer", of: "epochs_total" },
  { key: "epochs_total", kind: "integer", only: "machine" },
  { key: "val_acc", kind: "number", digits: 4, better: "high" },
  { key: "best_epoch", kind: "integer" },
  { key: "val_loss", kind: "number", digits: 4, better: "low" },
  { key: "wall_s", kind: "number", digits: 1, better: "low" },
  { key: "img_s", kind: "number", digits: 0, better: "high" },
  { key: "status", kind: "text" },
  { key: "dir", kind: "text", only: "machine" },
];

/**
 * One row per run.
 * @param runs the runs (with ids)
 * @returns the table, in the runs' order (sort it with {@link sortTable})
 * @example
 * ```ts
 * import { runTable } from "./table.ts";
 * import { runStats } from "./read_run.ts";
 * const run = (id: string, depth: number) => {
 *   const config = { "model.depth": depth, "train.seed": 0 };
 *   return { dir: id, id, config, metrics: [], summary: null, evals: {}, status: "completed", stats: runStats(config, [], null), warnings: [] };
 * };
 * const table = runTable([run("a", 2), run("b", 4)]);
 * if (table.keys.join() !== "model.depth" || table.rows[1]?.["model.depth"] !== 4) throw new Error("wrong");
 * ```
 */
export function runTable(runs: RunRecord[]): ComparisonTable {
  const keys = differingKeys(runs.map((r) => r.config));
  const evals = evalColumns(runs);
  const rows = runs.map((r): Record<string, Cell> => ({
    run: r.id,
    ...Object.fromEntries(keys.map((k) => [k, r.config[k]])),
    params: r.stats.params,
    epochs: r.stats.epochsDone,
    epochs_total: r.stats.epochsTotal,
    val_acc: r.stats.bestValAcc,
    best_epoch: r.stats.bestEpoch,
    ...Object.fromEntries(evals.map((c) => [c.key, evalAcc(r, c.key)])),
    val_loss: r.stats.finalValLoss,
    wall_s: r.stats.wallSeconds,
    img_s: r.stats.imagesPerSecond,
    status: r.status,
    dir: r.dir,
  }));
  return {
    columns: [
      { key: "run", kind: "text" },
      ...keys.map((key): Column => ({ key, kind: "config" })),
      ...withEvalColumns(RUN_COLUMNS, "best_epoch", evals),
    ],
    rows,
    keys,
    configKeys: allKeys(runs),
  };
}

/** The order evaluation columns appear in: test before val, the moving average first. */
const SPLIT_ORDER = ["test", "val", "train"];
const CHECKPOINT_ORDER = ["ema", "best", "last"];

/**
 * The columns of recorded evaluations (evals.json, written by `eval`) that any of the runs has,
 * e.g. `ema_test_acc` and `best_test_acc`: test first, then val; ema, best, last.
 * @param runs runs
 * @returns one column per split and checkpoint some run was evaluated on; none when no run was
 * @example
 * ```ts
 * import { evalColumns } from "./table.ts";
 * const at = "";
 * const runs = [{ evals: { "test/ema": { split: "test", checkpoint: "ema" as const, epoch: 3, acc: 0.9, loss: 0.3, count: 100, backend: "wasm", at } } }];
 * if (evalColumns(runs).map((c) => c.key).join() !== "ema_test_acc") throw new Error("wrong");
 * ```
 */
export function evalColumns(runs: Pick<RunRecord, "evals">[]): Column[] {
  const seen = new Map<string, [number, number]>();
  for (const r of runs) {
    for (const e of Object.values(r.evals)) {
      seen.set(evalColumn(e), [_rank(SPLIT_ORDER, e.split), _rank(CHECKPOINT_ORDER, e.checkpoint)]);
    }
  }
  return [...seen]
    .sort(([a, [sa, ca]], [b, [sb, cb]]) => sa - sb || ca - cb || a.localeCompare(b))
    .map(([key]): Column => ({ key, kind: "number", digits: 4, better: "high" }));
}

/**
 * @param run a run
 * @param column an evaluation column (`ema_test_acc`)
 * @returns the run's accuracy for it, or null when it was not evaluated so
 */
export function evalAcc(run: Pick<RunRecord, "evals">, column: string): number | null {
  return Object.values(run.evals).find((e) => evalColumn(e) === column)?.acc ?? null;
}

/**
 * @param columns a table's columns
 * @param after the column the evaluation columns follow
 * @param evals the evaluation columns
 * @returns the columns with the evaluation columns inserted after `after`
 */
export function withEvalColumns(columns: readonly Column[], after: string, evals: Column[]): Column[] {
  const at = columns.findIndex((c) => c.key === after) + 1;
  return [...columns.slice(0, at), ...evals, ...columns.slice(at)];
}

function _rank(order: string[], value: string): number {
  const i = order.indexOf(value);
  return i < 0 ? order.length : i;
}

/**
 * @param runs runs
 * @returns every config key any of them has, in first-seen order
 */
export function allKeys(runs: RunRecord[]): string[] {
  return [...new Set(runs.flatMap((r) => Object.keys(r.config)))];
}

/**
 * Sorts the rows in place: by the key, then best val_acc (best first), then as they were.
 * Missing and non-finite values go last either way.
 * @param table a comparison table
 * @param sort a column or config key, with `:asc` or `:desc` to choose the order; without
 *   it, columns where higher is better (val_acc, img_s) sort descending, the rest ascending
 * @returns the same table
 * @throws {UsageError} for a key that is neither a column nor a config key
 * @example
 * ```ts
 * import { sortTable } from "./table.ts";
 * const table = {
 *   columns: [{ key: "run", kind: "text" as const }, { key: "val_acc", kind: "number" as const, better: "high" as const }],
 *   rows: [{ run: "a", val_acc: 0.5 }, { run: "b", val_acc: 0.9 }, { run: "c", val_acc: null }],
 *   keys: [],
 *   configKeys: [],
 * };
 * if (sortTable(table, "val_acc").rows.map((r) => r.run).join() !== "b,a,c") throw new Error("wrong");
 * if (sortTable(table, "run:desc").rows.map((r) => r.run).join() !== "c,b,a") throw new Error("wrong");
 * ```
 */
export function sortTable(table: ComparisonTable, sort: string = DEFAULT_SORT): ComparisonTable {
  const m = /^(.+?)(?::(asc|desc))?$/.exec(sort.trim());
  const key = m?.[1] ?? "";
  const column = table.columns.find((c) => c.key === key);
  if (!column && !table.configKeys.includes(key)) {
    const names = table.columns.map((c) => c.key).join(", ");
    throw new UsageError(`--sort: unknown column '${key}'; choose one of ${names} or a config key such as train.lr`);
  }
  const order = m?.[2] ?? (column?.better === "high" ? "desc" : "asc");
  const sign = order === "desc" ? -1 : 1;
  const byAcc = table.columns.find((c) => c.key === DEFAULT_SORT);
  const indexed = table.rows.map((row, i) => ({ row, i }));
  indexed.sort((a, b) =>
    compareCells(a.row[key], b.row[key], sign) ||
    (byAcc ? compareCells(a.row[DEFAULT_SORT], b.row[DEFAULT_SORT], -1) : 0) ||
    a.i - b.i
  );
  table.rows = indexed.map((x) => x.row);
  return table;
}

/**
 * @param a a cell
 * @param b a cell
 * @param sign 1 for ascending, -1 for descending
 * @returns negative when a goes first; missing and non-finite values always last
 */
export function compareCells(a: Cell, b: Cell, sign: 1 | -1): number {
  const va = sortValue(a);
  const vb = sortValue(b);
  if (va === null || vb === null) return va === null ? (vb === null ? 0 : 1) : -1;
  if (typeof va === "number" && typeof vb === "number") return sign * (va - vb);
  return sign * String(va).localeCompare(String(vb), "en", { numeric: true });
}

/**
 * @param cell a cell
 * @returns the number or text it sorts by; null for a missing or non-finite value
 */
export function sortValue(cell: Cell): number | string | null {
  if (cell === undefined || cell === null) return null;
  if (typeof cell === "number") return Number.isFinite(cell) ? cell : null;
  if (isMeanStd(cell)) return cell.n > 0 && Number.isFinite(cell.mean) ? cell.mean : null;
  return configText(cell);
}

/**
 * @param cell a cell
 * @returns its plain text: config values as `--set` takes them, a mean ± std in full precision
 */
export function cellText(cell: Cell): string {
  if (isMeanStd(cell)) return cell.std === null ? String(cell.mean) : `${cell.mean} ± ${cell.std}`;
  return configText(cell);
}

/**
 * @param cell a cell
 * @returns whether it is a mean ± std
 */
export function isMeanStd(cell: Cell): cell is MeanStd {
  return typeof cell === "object" && cell !== null && !Array.isArray(cell) && "mean" in cell && "n" in cell;
}
