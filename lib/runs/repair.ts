/**
 * On resume, the training state is the source of truth: whatever it says must be on disk. A kill
 * between two files of one epoch, a truncated metrics.csv or a summary.json that no longer
 * parses is repaired from it, and each repair is said in one line.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError, firstLine } from "../errors.ts";
import type { VisionTransformer } from "../model/vit.ts";
import type { ModelEma } from "../train/ema.ts";
import { epochMetadata, saveCheckpoint } from "./checkpoint.ts";
import { type MetricsRow, MetricsWriter, readMetrics } from "./metrics.ts";
import { RUN_FILES } from "./run_dir.ts";
import { readSafetensorsHeader } from "./safetensors.ts";
import type { TrainingState } from "./state.ts";
import type { RunSummary } from "./summary.ts";

/**
 * Reopens metrics.csv for appending with exactly the rows up to the state. A state that holds
 * every row rewrites the file from them; an older state keeps the file's rows up to it.
 * @param runDir the run directory
 * @param state the restored state
 * @param ema whether the EMA columns are kept
 * @param warn told in one line what was repaired or will be trained again
 * @returns the writer
 * @throws {CheckpointError} when the file cannot be read and the state cannot rebuild it
 */
export function reopenMetrics(
  runDir: string,
  state: TrainingState,
  ema: boolean,
  warn: (message: string) => void,
): MetricsWriter {
  const path = join(runDir, RUN_FILES.metrics);
  const before = existsSync(path) ? readFileSync(path, "utf8") : null;
  let rows: MetricsRow[] | null = null;
  let problem: string | null = null;
  try {
    rows = before === null ? [] : readMetrics(path);
  } catch (err) {
    problem = firstLine(err);
  }
  if (rows !== null && rows.length > state.completedEpochs) {
    warn(
      `metrics.csv rows after epoch ${state.completedEpochs} (the last checkpoint) will be trained and written again`,
    );
  }
  if (state.rows) {
    const writer = new MetricsWriter(path, state.rows, ema);
    const after = readFileSync(path, "utf8");
    const kept = rows?.filter((r) => r.epoch <= state.completedEpochs).length ?? 0;
    if (problem !== null) {
      warn(`${path}: ${problem}; rewritten from the state`);
    } else if (before !== null && !before.startsWith(after) && !after.startsWith(before)) {
      warn(`${path}: its rows differed from the state's; rewritten from the state`);
    } else if (after.length > (before?.length ?? 0) && state.completedEpochs > 0) {
      warn(`${path}: held ${kept} of the state's ${state.completedEpochs} epochs; the rest restored from the state`);
    }
    return writer;
  }
  if (rows === null) {
    throw new CheckpointError(
      `${path}: ${problem}; this run's state predates vitlab keeping every row, so fix or remove the bad lines`,
    );
  }
  const kept = rows.filter((r) => r.epoch <= state.completedEpochs);
  if (kept.length < state.completedEpochs && state.lastRow && state.lastRow.epoch === kept.length + 1) {
    kept.push(state.lastRow);
  }
  return new MetricsWriter(path, kept, ema);
}

/**
 * A summary.json that is missing, unreadable or not a summary, rebuilt from the state: a new
 * run's summary brought to where the state stands.
 * @param base the summary a new run of this config would start with
 * @param state the restored state
 * @param stepsPerEpoch optimizer steps per epoch
 * @returns the rebuilt summary (earlier resume records are lost with the file)
 */
export function summaryFromState(base: RunSummary, state: TrainingState, stepsPerEpoch: number): RunSummary {
  return {
    ...base,
    epochs_completed: state.completedEpochs,
    steps: state.completedEpochs * stepsPerEpoch,
    best_epoch: state.best?.epoch ?? null,
    best_val_acc: state.best?.val_acc ?? null,
    best_val_loss: state.best?.val_loss ?? null,
    final: state.rows?.at(-1) ?? state.lastRow ?? null,
    wall_seconds: state.wallSeconds,
  };
}

/**
 * @param runDir a run directory
 * @returns when the run began, as its config.yaml's creation (or last change) tells
 */
export function runStartedAt(runDir: string): Date {
  try {
    const info = statSync(join(runDir, RUN_FILES.config));
    return info.birthtime ?? info.mtime ?? new Date();
  } catch {
    return new Date();
  }
}

/**
 * @param value parsed summary.json
 * @returns why it is not a usable summary, or null when it is
 */
export function summaryProblem(value: unknown): string | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const s = value as Record<string, unknown>;
  if (typeof s.status !== "string") return "no status";
  if (s.resumes !== undefined && !Array.isArray(s.resumes)) return "resumes is not a list";
  if (typeof s.started_at !== "string") return "no started_at";
  return null;
}

/** What a checkpoint of the state's epoch carries in its metadata. */
export interface EpochMeta {
  config: string;
  config_hash: string;
}

/**
 * At an epoch boundary the state's weights are the epoch's: rewrites last (and ema) when they
 * are missing or hold an earlier epoch, and best when the state says the best is this epoch.
 * @param runDir the run directory
 * @param state the restored state (weights already in the model)
 * @param model the model holding the state's weights
 * @param ema the restored moving average, if kept
 * @param meta the config text and hash the checkpoints carry
 * @param warn told in one line of each file rewritten
 */
export async function repairCheckpoints(
  runDir: string,
  state: TrainingState,
  model: VisionTransformer,
  ema: ModelEma | null,
  meta: EpochMeta,
  warn: (message: string) => void,
): Promise<void> {
  const epoch = state.completedEpochs;
  const row = state.rows?.at(-1) ?? state.lastRow;
  if (state.progress !== null || epoch === 0 || !row || row.epoch !== epoch) return;
  const metadata = epochMetadata(meta, row);
  const due: [string, () => Promise<void>][] = [
    [RUN_FILES.last, () => saveCheckpoint(join(runDir, RUN_FILES.last), model, metadata)],
  ];
  if (ema) {
    const path = join(runDir, RUN_FILES.ema);
    due.push([RUN_FILES.ema, () => ema.withWeights(model, () => saveCheckpoint(path, model, metadata))]);
  }
  if (state.best?.epoch === epoch) {
    due.push([RUN_FILES.best, () => saveCheckpoint(join(runDir, RUN_FILES.best), model, metadata)]);
  }
  for (const [file, write] of due) {
    const held = _checkpointEpoch(join(runDir, file));
    if (held === epoch) continue;
    await write();
    warn(
      `${file} ${
        held === null ? "was missing or unreadable" : `held epoch ${held}`
      }; rewritten from the state (epoch ${epoch})`,
    );
  }
}

function _checkpointEpoch(path: string): number | null {
  try {
    const epoch = Number(readSafetensorsHeader(path).metadata.epoch);
    return Number.isInteger(epoch) ? epoch : null;
  } catch {
    return null;
  }
}
