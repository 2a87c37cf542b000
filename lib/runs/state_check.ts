/**
 * The training state's metadata is trusted only once checked as strictly as a config: a field of
 * the wrong type, out of range or inconsistent with the others is a one-line error naming the
 * file and the field, never a run marked completed that was not trained.
 */
import { CheckpointError } from "../errors.ts";
import type { RngState } from "../random.ts";
import type { EpochProgress } from "../train/trainer.ts";
import { EMA_COLUMNS, METRIC_COLUMNS, type MetricsRow } from "./metrics.ts";
import type { TrainingState } from "./state.ts";

/** The state's metadata as stored: the position, and the optimizer's step count. */
export type StoredState = TrainingState & { optimizerStep: number };

/**
 * Checks parsed `vitlab_state` metadata field by field.
 * @param value the parsed JSON
 * @param path the state file, for messages
 * @returns the same value, typed
 * @throws {CheckpointError} naming the first field that is wrong
 * @example
 * ```ts
 * import { checkStoredState } from "./state_check.ts";
 * let message = "";
 * try {
 *   checkStoredState({ completedEpochs: "x" }, "state.safetensors");
 * } catch (err) {
 *   message = (err as Error).message;
 * }
 * if (!message.includes("completedEpochs")) throw new Error(message);
 * ```
 */
export function checkStoredState(value: unknown, path: string): StoredState {
  const fail = (field: string, expected: string, got: unknown): never => {
    const shown = JSON.stringify(got)?.slice(0, 40) ?? String(got);
    throw new CheckpointError(
      `${path}: vitlab_state.${field}: expected ${expected}, got ${shown}; the state is damaged`,
    );
  };
  const obj = (v: unknown, field: string): Record<string, unknown> =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? v as Record<string, unknown>
      : fail(field, "an object", v);
  const int = (v: unknown, field: string, min = 0): number =>
    Number.isSafeInteger(v) && (v as number) >= min ? v as number : fail(field, `an integer ≥ ${min}`, v);
  const num = (v: unknown, field: string): number =>
    typeof v === "number" && Number.isFinite(v) ? v : fail(field, "a finite number", v);
  const s = obj(value, "(top level)");
  const completedEpochs = int(s.completedEpochs, "completedEpochs");
  const optimizerStep = int(s.optimizerStep, "optimizerStep");
  const trajectoryHash = typeof s.trajectoryHash === "string" && /^[0-9a-f]{8,}$/.test(s.trajectoryHash)
    ? s.trajectoryHash
    : fail("trajectoryHash", "a hex digest", s.trajectoryHash);
  const wallSeconds = num(s.wallSeconds, "wallSeconds");
  if (wallSeconds < 0) fail("wallSeconds", "a number ≥ 0", wallSeconds);
  const progress = s.progress === null
    ? null
    : _progress(obj(s.progress, "progress"), completedEpochs, { int, num, fail });
  const best = s.best === null ? null : _best(obj(s.best, "best"), completedEpochs, { int, fail });
  const row = (v: unknown, field: string): MetricsRow => _row(obj(v, field), field, { num, fail });
  const lastRow = s.lastRow === null || s.lastRow === undefined ? null : row(s.lastRow, "lastRow");
  const state: StoredState = { completedEpochs, progress, best, lastRow, trajectoryHash, wallSeconds, optimizerStep };
  if (s.rows !== undefined) {
    if (!Array.isArray(s.rows)) fail("rows", "a list of metrics rows", s.rows);
    const rows = (s.rows as unknown[]).map((r, i) => row(r, `rows[${i}]`));
    if (rows.length !== completedEpochs) fail("rows", `${completedEpochs} rows, one per completed epoch`, rows.length);
    rows.forEach((r, i) => r.epoch !== i + 1 && fail(`rows[${i}].epoch`, `${i + 1}`, r.epoch));
    state.rows = rows;
  }
  if (optimizerStep === 0 && (completedEpochs > 0 || (progress?.step ?? 0) > 0)) {
    fail("optimizerStep", "steps taken by the epochs the state says were trained", optimizerStep);
  }
  return state;
}

interface _Checks {
  int(v: unknown, field: string, min?: number): number;
  num(v: unknown, field: string): number;
  fail(field: string, expected: string, got: unknown): never;
}

function _progress(p: Record<string, unknown>, completed: number, c: _Checks): EpochProgress {
  const epoch = c.int(p.epoch, "progress.epoch");
  if (epoch !== completed) c.fail("progress.epoch", `${completed} (the epoch after the completed ones)`, epoch);
  const rng = (v: unknown, field: string): RngState =>
    Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)
      ? v as RngState
      : c.fail(field, "4 unsigned 32-bit integers", v);
  return {
    epoch,
    step: c.int(p.step, "progress.step"),
    lossSum: c.num(p.lossSum, "progress.lossSum"),
    correct: c.int(p.correct, "progress.correct"),
    images: c.int(p.images, "progress.images"),
    seconds: c.num(p.seconds, "progress.seconds"),
    lr: c.num(p.lr, "progress.lr"),
    dropoutRng: rng(p.dropoutRng, "progress.dropoutRng"),
    augmentRng: rng(p.augmentRng, "progress.augmentRng"),
  };
}

function _best(b: Record<string, unknown>, completed: number, c: Pick<_Checks, "int" | "fail">): TrainingState["best"] {
  const epoch = c.int(b.epoch, "best.epoch", 1);
  if (epoch > completed) c.fail("best.epoch", `at most ${completed}, the epochs completed`, epoch);
  const metric = (v: unknown, field: string): number | null =>
    v === null ? null : typeof v === "number" && Number.isFinite(v) ? v : c.fail(field, "a number or null", v);
  return { epoch, val_acc: metric(b.val_acc, "best.val_acc"), val_loss: metric(b.val_loss, "best.val_loss") };
}

function _row(r: Record<string, unknown>, field: string, c: Pick<_Checks, "num" | "fail">): MetricsRow {
  const out: Record<string, number> = {};
  for (const col of METRIC_COLUMNS) {
    // Validation metrics are NaN when a run has no validation split; JSON stores those as null.
    const v = r[col];
    out[col] = v === null ? NaN : typeof v === "number" ? v : c.fail(`${field}.${col}`, "a number", v);
  }
  for (const col of EMA_COLUMNS) {
    if (col in r) {
      out[col] = r[col] === null
        ? NaN
        : typeof r[col] === "number"
        ? r[col] as number
        : c.fail(`${field}.${col}`, "a number", r[col]);
    }
  }
  return out as MetricsRow;
}
