/**
 * A run's evaluations, kept in its `evals.json`: what `eval` scored a checkpoint on a whole split,
 * so that `compare` can show test accuracy beside the validation curves and `--group-by` can
 * give its mean over seeds. Keyed `<split>/<checkpoint>` ("test/ema"): a new evaluation of the
 * same checkpoint on the same split replaces the old one.
 */
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.ts";
import { readJsonObject } from "./json_file.ts";
import { RUN_FILES } from "./run_dir.ts";

/**
 * The checkpoints `eval` can score.
 * @example
 * ```ts
 * import { EVAL_CHECKPOINTS } from "./evals.ts";
 * if (!EVAL_CHECKPOINTS.includes("ema")) throw new Error("wrong");
 * ```
 */
export const EVAL_CHECKPOINTS = ["best", "last", "ema"] as const;

/** One of {@linkcode EVAL_CHECKPOINTS}. */
export type EvalCheckpoint = typeof EVAL_CHECKPOINTS[number];

/** One evaluation of a checkpoint on a whole split. */
export interface EvalRecord {
  /** The split: `train`, `val` or `test`. */
  split: string;
  /** Which checkpoint: `best`, `last` or `ema`. */
  checkpoint: EvalCheckpoint;
  /** The one-based epoch the checkpoint was saved at; null when its metadata has none. */
  epoch: number | null;
  /** Fraction of examples classified correctly, in [0, 1]. */
  acc: number;
  /** Mean cross-entropy. */
  loss: number;
  /** Examples evaluated: the whole split. */
  count: number;
  /** The tfjs backend it ran on. */
  backend: string;
  /** When it was evaluated (ISO 8601). */
  at: string;
}

/** evals.json: evaluations keyed `<split>/<checkpoint>`. */
export type RunEvals = Record<string, EvalRecord>;

/**
 * The name `compare` gives an evaluation's column.
 * @param record an evaluation
 * @returns its column name in `compare`: `ema_test_acc` for the EMA weights on the test split,
 *   named as metrics.csv names the moving average's own columns (`ema_val_acc`)
 * @example
 * ```ts
 * import { evalColumn } from "./evals.ts";
 * if (evalColumn({ split: "test", checkpoint: "best" }) !== "best_test_acc") throw new Error("wrong");
 * ```
 */
export function evalColumn(record: Pick<EvalRecord, "split" | "checkpoint">): string {
  return `${record.checkpoint}_${record.split}_acc`;
}

/**
 * Reads a run's evals.json.
 * @param runDir a run directory
 * @param warnings receives a line when the file exists but cannot be read or parsed
 * @returns its evaluations; none when the run has no evals.json
 * @example
 * ```ts
 * import { readEvals, recordEval } from "./evals.ts";
 * const dir = Deno.makeTempDirSync();
 * const at = new Date(0).toISOString();
 * recordEval(dir, { split: "test", checkpoint: "ema", epoch: 3, acc: 0.9, loss: 0.3, count: 100, backend: "wasm", at });
 * if (readEvals(dir)["test/ema"]?.acc !== 0.9) throw new Error("wrong");
 * ```
 */
export function readEvals(runDir: string, warnings: string[] = []): RunEvals {
  const path = join(runDir, RUN_FILES.evals);
  const value = readJsonObject(path, warnings, "no test scores");
  if (value === null) return {};
  const evals: RunEvals = {};
  for (const [key, record] of Object.entries(value)) {
    if (_isRecord(record) && key === _key(record)) evals[key] = record;
    else warnings.push(`${path}: entry '${key}' is not an evaluation; ignored`);
  }
  return evals;
}

/**
 * Adds (or replaces) one evaluation in a run's evals.json, written atomically.
 * @param runDir the run directory
 * @param record the evaluation
 * @returns the path written
 * @throws {RunError} when the file cannot be written (a read-only run directory, a full disk)
 */
export function recordEval(runDir: string, record: EvalRecord): string {
  const path = join(runDir, RUN_FILES.evals);
  // A damaged evals.json is replaced rather than kept: every entry it held can be re-evaluated.
  const evals = readEvals(runDir);
  evals[_key(record)] = record;
  const sorted = Object.fromEntries(Object.entries(evals).sort(([a], [b]) => a.localeCompare(b)));
  writeFileAtomic(path, JSON.stringify(sorted, null, 2) + "\n");
  return path;
}

function _key(record: EvalRecord): string {
  return `${record.split}/${record.checkpoint}`;
}

function _isRecord(value: unknown): value is EvalRecord {
  if (value === null || typeof value !== "object") return false;
  const r = value as Record<string, unknown>;
  return typeof r.split === "string" && (EVAL_CHECKPOINTS as readonly unknown[]).includes(r.checkpoint) &&
    typeof r.acc === "number" && typeof r.loss === "number" && typeof r.count === "number" &&
    (r.epoch === null || typeof r.epoch === "number");
}
