/**
 * The per-epoch metrics CSV. Every write replaces the whole file atomically, so a reader (or a
 * crash) never sees half a row.
 */
import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { writeFileAtomic } from "./atomic.ts";

/** The columns of metrics.csv, in order. */
export const METRIC_COLUMNS = [
  "epoch",
  "step",
  "lr",
  "train_loss",
  "train_acc",
  "val_loss",
  "val_acc",
  "epoch_seconds",
  "images_per_second",
] as const;

/** Columns appended when train.ema_decay > 0: the moving average's validation metrics. */
export const EMA_COLUMNS = ["ema_val_loss", "ema_val_acc"] as const;

/** One row of metrics.csv. */
export type MetricsRow =
  & Record<typeof METRIC_COLUMNS[number], number>
  & Partial<Record<typeof EMA_COLUMNS[number], number>>;

/** Appends rows to a run's metrics.csv. */
export class MetricsWriter {
  readonly path: string;
  readonly columns: string[];
  readonly #rows: MetricsRow[] = [];

  /**
   * @param path the CSV file; created with just its header
   * @param existing rows already in the file (on resume)
   * @param ema whether the EMA columns follow the standard ones
   */
  constructor(path: string, existing: MetricsRow[] = [], ema = false) {
    this.path = path;
    this.columns = [...METRIC_COLUMNS, ...(ema ? EMA_COLUMNS : [])];
    this.#rows.push(...existing);
    this.#flush();
  }

  /** @param row the epoch's metrics */
  append(row: MetricsRow): void {
    this.#rows.push(row);
    this.#flush();
  }

  /** @returns rows written so far */
  rows(): readonly MetricsRow[] {
    return this.#rows;
  }

  #flush(): void {
    writeFileAtomic(this.path, stringify(this.#rows.map(formatRow), { header: true, columns: this.columns }));
  }
}

/**
 * Fixed text per column, so two identical runs write identical bytes.
 * @param row metrics
 * @returns the row's cells as strings
 */
export function formatRow(row: MetricsRow): Record<string, string> {
  const f = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
  const ema: Record<string, string> = row.ema_val_loss === undefined || row.ema_val_acc === undefined
    ? {}
    : { ema_val_loss: f(row.ema_val_loss, 6), ema_val_acc: f(row.ema_val_acc, 6) };
  return {
    ...ema,
    epoch: String(row.epoch),
    step: String(row.step),
    lr: row.lr.toExponential(6),
    train_loss: f(row.train_loss, 6),
    train_acc: f(row.train_acc, 6),
    val_loss: f(row.val_loss, 6),
    val_acc: f(row.val_acc, 6),
    epoch_seconds: f(row.epoch_seconds, 3),
    images_per_second: f(row.images_per_second, 1),
  };
}

/**
 * Reads a metrics.csv back.
 * @param path the file
 * @returns its rows as numbers
 */
export function readMetrics(path: string): MetricsRow[] {
  const records = parse(readFileSync(path, "utf8"), { columns: true, skip_empty_lines: true }) as Record<
    string,
    string
  >[];
  return records.map((r) =>
    Object.fromEntries(
      [...METRIC_COLUMNS, ...EMA_COLUMNS].filter((c) => c in r).map((c) => [c, Number(r[c])]),
    ) as MetricsRow
  );
}
