/** The numbers behind the pictures as CSV text, in one fixed format so reruns give the same bytes. */
import { stringify } from "csv-stringify/sync";
import type { ClassMetrics } from "./confusion.ts";

/**
 * A number as the CSVs write it: six significant digits, empty for NaN.
 * @param v the number
 * @returns its text
 * @example
 * ```ts
 * import { num } from "./csv.ts";
 * if (num(2 / 3) !== "0.666667" || num(NaN) !== "" || num(3) !== "3") throw new Error("wrong");
 * ```
 */
export function num(v: number): string {
  if (Number.isNaN(v)) return "";
  return Number.isInteger(v) ? String(v) : v.toPrecision(6);
}

/**
 * @param columns the header
 * @param rows the rows
 * @returns CSV text with a header line
 */
export function csv(columns: string[], rows: (string | number)[][]): string {
  return stringify(rows.map((r) => r.map((v) => (typeof v === "number" ? num(v) : v))), { header: true, columns });
}

/**
 * `confusion.csv`: one row per true class, one column per predicted class, counts.
 * @param matrix [K, K] counts, row = true class
 * @param names class names by label
 * @returns CSV text
 */
export function confusionCsv(matrix: Int32Array, names: readonly string[]): string {
  const k = names.length;
  const rows = names.map((name, r) => [r, name, ...Array.from(matrix.subarray(r * k, (r + 1) * k))]);
  return csv(["label", "name", ...names.map((_, c) => `pred_${c}`)], rows);
}

/**
 * `per_class.csv`: support, precision, recall, F1 and one-vs-rest accuracy of each class.
 * @param metrics from classMetrics
 * @param names class names by label
 * @returns CSV text
 */
export function perClassCsv(metrics: readonly ClassMetrics[], names: readonly string[]): string {
  return csv(
    ["label", "name", "support", "precision", "recall", "f1", "accuracy"],
    metrics.map((m) => [m.label, names[m.label]!, m.support, m.precision, m.recall, m.f1, m.accuracy]),
  );
}

/**
 * A matrix with a leading key column per row.
 * @param keys the first columns' names
 * @param prefix the value columns' name prefix (`patch_` gives patch_0, patch_1, ...)
 * @param rows each row's keys and values
 * @returns CSV text
 */
export function matrixCsv(
  keys: string[],
  prefix: string,
  rows: { keys: (string | number)[]; values: ArrayLike<number> }[],
): string {
  const width = rows[0]?.values.length ?? 0;
  return csv(
    [...keys, ...Array.from({ length: width }, (_, i) => `${prefix}${i}`)],
    rows.map((r) => [...r.keys, ...Array.from(r.values)]),
  );
}
