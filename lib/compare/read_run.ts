/**
 * Reading one run directory for comparison: its resolved config, the metrics rows that are
 * whole, its summary and its recorded evaluations. Tolerant: a run still in progress, a row cut
 * short, a missing or unparsable summary become warnings, and the run is shown with what could
 * be read.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { parse as parseYaml } from "yaml";
import { firstLine, RunError } from "../errors.ts";
import { readEvals, type RunEvals } from "../runs/evals.ts";
import { readJsonObject } from "../runs/json_file.ts";
import { METRIC_COLUMNS, type MetricsRow } from "../runs/metrics.ts";
import { RUN_FILES } from "../runs/run_dir.ts";
import { defaultConfig } from "../config/schema.ts";
import type { RunSummary } from "../runs/summary.ts";
import { type ConfigValue, flattenConfig } from "./flatten.ts";

/** The numbers a comparison shows for a run; null where the run has none yet. */
export interface RunStats {
  /** Trainable parameters (from summary.json). */
  params: number | null;
  /** The last epoch with a whole metrics row. */
  epochsDone: number;
  /** `train.epochs` of the config. */
  epochsTotal: number | null;
  /** Best validation accuracy over the epochs. */
  bestValAcc: number | null;
  /** The first (one-based) epoch that reached `bestValAcc`. */
  bestEpoch: number | null;
  /** Validation loss of the last epoch. */
  finalValLoss: number | null;
  /** Wall time of the run (summary.json), or the sum of its epochs while it has none. */
  wallSeconds: number | null;
  /** Mean training throughput over the epochs. */
  imagesPerSecond: number | null;
}

/** One run as a comparison sees it. */
export interface RunRecord {
  /** The run directory as found. */
  dir: string;
  /** A short name: the path relative to the runs' common parent (set by `loadRuns`). */
  id: string;
  /** The resolved config, flattened (`model.depth` → 6). */
  config: Record<string, ConfigValue>;
  /** The whole rows of metrics.csv, in file order. */
  metrics: MetricsRow[];
  /** summary.json, or null when missing or unreadable. */
  summary: RunSummary | null;
  /** evals.json: what `eval` scored on whole splits (test accuracy); empty without one. */
  evals: RunEvals;
  /** summary.json's status, or `unknown` without one. */
  status: string;
  /** The numbers the comparison table shows for it. */
  stats: RunStats;
  /** What could not be read, one line each. */
  warnings: string[];
}

/**
 * Reads a run directory.
 * @param dir a directory holding config.yaml and metrics.csv or summary.json
 * @returns the run; problems with metrics.csv or summary.json are in `warnings`
 * @throws {RunError} when config.yaml cannot be read or parsed (the run cannot be placed)
 * @example
 * ```ts
 * import { readRun } from "./read_run.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/config.yaml`, "train: {epochs: 2}\n");
 * Deno.writeTextFileSync(
 *   `${dir}/metrics.csv`,
 *   "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,epoch_seconds,images_per_second\n" +
 *     "1,10,1e-3,1.2,0.5,1.1,0.6,2.0,500\n2,20",
 * );
 * const run = readRun(dir);
 * if (run.stats.bestValAcc !== 0.6 || run.warnings.length !== 1) throw new Error("wrong");
 * ```
 */
export function readRun(dir: string): RunRecord {
  const warnings: string[] = [];
  const config = _readConfig(join(dir, RUN_FILES.config));
  const metrics = _readMetrics(join(dir, RUN_FILES.metrics), warnings);
  const summary = _readSummary(join(dir, RUN_FILES.summary), warnings);
  return {
    dir,
    id: dir,
    config,
    metrics,
    summary,
    evals: readEvals(dir, warnings),
    status: typeof summary?.status === "string" ? summary.status : "unknown",
    stats: runStats(config, metrics, summary),
    warnings,
  };
}

/**
 * The comparison's numbers, from the metrics rows where there are any, else from the summary.
 * @param config the flattened config
 * @param metrics whole metrics rows
 * @param summary summary.json or null
 * @returns the run's stats
 */
export function runStats(
  config: Record<string, ConfigValue>,
  metrics: MetricsRow[],
  summary: RunSummary | null,
): RunStats {
  let bestValAcc: number | null = null;
  let bestEpoch: number | null = null;
  for (const row of metrics) {
    if (Number.isFinite(row.val_acc) && (bestValAcc === null || row.val_acc > bestValAcc)) {
      bestValAcc = row.val_acc;
      bestEpoch = row.epoch;
    }
  }
  if (bestValAcc === null && summary) {
    bestValAcc = _num(summary.best_val_acc);
    bestEpoch = _num(summary.best_epoch);
  }
  const last = metrics.at(-1);
  const speeds = metrics.map((r) => r.images_per_second).filter((v) => Number.isFinite(v) && v > 0);
  const epochs = config["train.epochs"];
  return {
    params: _num(summary?.param_count),
    epochsDone: last?.epoch ?? _num(summary?.epochs_completed) ?? 0,
    epochsTotal: typeof epochs === "number" ? epochs : _num(summary?.epochs),
    bestValAcc,
    bestEpoch,
    finalValLoss: last ? last.val_loss : _num(summary?.final?.val_loss),
    wallSeconds: _num(summary?.wall_seconds) ??
      (metrics.length ? metrics.reduce((s, r) => s + r.epoch_seconds, 0) : null),
    imagesPerSecond: speeds.length
      ? speeds.reduce((s, v) => s + v, 0) / speeds.length
      : _num(summary?.final?.images_per_second),
  };
}

function _readConfig(path: string): Record<string, ConfigValue> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new RunError(`${path}: cannot read (${(err as { code?: string }).code ?? (err as Error).message})`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new RunError(`${path}: not valid YAML (${firstLine(err)})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new RunError(`${path}: expected a mapping of config sections`);
  }
  // Runs made before a key existed lack it: they ran with its default, so compare them as such
  // rather than showing every newer key as a difference.
  return { ...flattenConfig(defaultConfig()), ...flattenConfig(value) };
}

function _readMetrics(path: string, warnings: string[]): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "ENOENT") warnings.push(`${path}: cannot read (${code ?? (err as Error).message}); no curves`);
    return [];
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsv(text, {
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as typeof records;
  } catch (err) {
    warnings.push(`${path}: not parsable as CSV (${firstLine(err)}); no curves`);
    return [];
  }
  const header = records.shift()?.record ?? [];
  const missing = METRIC_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) {
    if (header.length) warnings.push(`${path}: header lacks ${missing.join(", ")}; no curves`);
    return [];
  }
  const at = METRIC_COLUMNS.map((c) => header.indexOf(c));
  const rows: MetricsRow[] = [];
  for (const { record, info } of records) {
    const cells = at.map((i) => record[i]);
    // Number("") is 0: an absent or empty cell is a row cut short, not a zero.
    const values = cells.map((c) => (c === undefined || c.trim() === "" ? NaN : Number(c)));
    const bad = values.findIndex((v, i) => Number.isNaN(v) && cells[i]?.trim() !== "NaN");
    if (bad >= 0 || record.length !== header.length) {
      warnings.push(`${path} line ${info.lines}: incomplete or unparsable row ignored`);
      continue;
    }
    rows.push(Object.fromEntries(METRIC_COLUMNS.map((c, i) => [c, values[i]])) as MetricsRow);
  }
  return rows;
}

function _readSummary(path: string, warnings: string[]): RunSummary | null {
  return readJsonObject(path, warnings, "status unknown") as RunSummary | null;
}

function _num(value: unknown): number | null {
  return typeof value === "number" ? value : null;
}
