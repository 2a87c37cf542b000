/**
 * One experiment end to end: backend, data, model, training, and a self-describing run
 * directory (config.yaml, env.json, metrics.csv, checkpoints, summary.json) — started fresh,
 * rerun from another run's config, or resumed exactly where it stopped. Opening a run
 * (open_run.ts) gives a session whose state says where training stands, a new run's being the
 * start, so the loop below is the same for both:
 *
 *   prepare → for each epoch: train, validate, checkpoint, record → finish
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BackendInfo } from "../backend/backend.ts";
import type { Config } from "../config/schema.ts";
import { DivergedError, InterruptedError, UsageError, VitlabError } from "../errors.ts";
import { evaluate } from "../train/evaluate.ts";
import type { EpochProgress, EpochTrainResult, StepEvent } from "../train/trainer.ts";
import { epochMetadata, saveCheckpoint } from "./checkpoint.ts";
import type { InitReport } from "./init_from.ts";
import type { MetricsRow } from "./metrics.ts";
import { openNewRun, openResumedRun, prepareTraining, readResumable, type RunSession } from "./open_run.ts";
import { lockRunDir } from "./lock.ts";
import { removeOrphanTemps } from "./orphans.ts";
import { RUN_FILES } from "./run_dir.ts";
import { saveState, type TrainingState } from "./state.ts";
import { type RunSummary, writeSummary } from "./summary.ts";

/** What the caller hears about while a run goes on. */
export interface ExperimentEvents {
  /** The run directory exists and training is about to start (or continue). */
  onStart?(info: StartInfo): void;
  /** After every optimizer step. */
  onStep?(event: StepEvent): void;
  /** After each epoch's validation, with its metrics row; `best` when val_acc improved. */
  onEpoch?(row: MetricsRow, best: boolean): void;
  /** Something the user should know that does not stop the run. */
  onWarning?(message: string): void;
}

/** Facts about a run as it starts. */
export interface StartInfo {
  /** The run directory being written. */
  runDir: string;
  /** The backend training runs on. */
  backend: BackendInfo;
  /** Scalar parameters of the model. */
  paramCount: number;
  /** Examples in the training split. */
  trainCount: number;
  /** Examples in the validation split (0 without one). */
  valCount: number;
  /** Optimizer steps in an epoch: whole batches only. */
  stepsPerEpoch: number;
  /** Threads computing each step's micro-batches (1: the training thread alone). */
  replicas: number;
  /** Where a resumed run continues: one-based epoch and step within it; null for a new run. */
  resumedAt: { epoch: number; step: number } | null;
  /** The file model.init_from set the weights from, and one line per adaptation; null otherwise. */
  init: InitReport | null;
}

/** Options of {@linkcode runExperiment} and {@linkcode resumeExperiment}. */
export interface ExperimentOptions {
  /** Root of all runs (`runs/` in the CLI). Unused by resume, which writes in place. */
  runsDir: string;
  /** The command line, recorded in env.json. */
  command?: string[];
  /** Callbacks for progress and warnings; none by default. */
  events?: ExperimentEvents;
  /**
   * Aborting stops training after the step in progress, writes a checkpoint and throws
   * {@linkcode InterruptedError}; a reason of "SIGTERM" gives exit code 143, else 130.
   */
  signal?: AbortSignal;
  /** The run this one reruns: its env.json is compared with this machine's. */
  rerunOf?: string;
}

/** A run's outcome. */
export interface ExperimentResult {
  /** The run directory written. */
  runDir: string;
  /** summary.json as last written. */
  summary: RunSummary;
}

/**
 * Trains the model a config declares in a new run directory.
 * @param config a resolved config (see `loadConfig`)
 * @param options where to write, whom to tell, when to stop
 * @returns the run directory and its final summary
 * @throws {VitlabError} subclasses for bad input or failed runs; once the run directory
 *   exists, its summary.json says `failed`, `diverged` or `interrupted`
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { runExperiment } from "./experiment.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const { runDir, summary } = await runExperiment(config, { runsDir: Deno.makeTempDirSync() });
 * if (summary.status !== "completed" || !Deno.statSync(`${runDir}/metrics.csv`).isFile) throw new Error("wrong");
 * ```
 */
export async function runExperiment(config: Config, options: ExperimentOptions): Promise<ExperimentResult> {
  const started = new Date();
  const parts = await prepareTraining(config, options.events, options.rerunOf, true);
  let session: RunSession | null = null;
  try {
    session = openNewRun(parts, options, started);
    return await _train(session);
  } finally {
    session?.lock.release();
    parts.dispose();
  }
}

/** Options of {@linkcode resumeExperiment}. */
export interface ResumeOptions extends Omit<ExperimentOptions, "runsDir" | "rerunOf"> {
  /** `key=value` overrides; only the keys of `RESUMABLE_KEYS` (lib/runs/resume_rules.ts) may change. */
  overrides?: string[];
}

/**
 * Continues a run that stopped (interrupted, crashed, or completed with more epochs asked
 * for) from its `checkpoints/state.safetensors`: weights, optimizer moments and step, schedule
 * position, random streams and data order are restored, and metrics.csv is appended to. On
 * cpu, wasm and blas the result is byte-identical to an uninterrupted run.
 * @param runDir the run directory
 * @param options overrides, callbacks, stop signal
 * @returns the run directory and its final summary
 * @throws {UsageError} when runDir is not a run or has nothing left to train
 * @throws {ConfigError} when an override would change the trajectory
 * @throws {CheckpointError} when the state file is missing, corrupt or from another config
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { resumeExperiment, runExperiment } from "./experiment.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const { runDir } = await runExperiment(config, { runsDir: Deno.makeTempDirSync() });
 * const { summary } = await resumeExperiment(runDir, { overrides: ["train.epochs=2"] });
 * if (summary.epochs_completed !== 2 || summary.resumes.length !== 1) throw new Error("not resumed");
 * ```
 */
export async function resumeExperiment(runDir: string, options: ResumeOptions = {}): Promise<ExperimentResult> {
  if (!existsSync(join(runDir, RUN_FILES.config))) {
    throw new UsageError(`${runDir}: not a run directory (no ${RUN_FILES.config})`);
  }
  // One process owns a run: a second resume is refused, a dead owner's lock taken over.
  const lock = lockRunDir(runDir, (m) => options.events?.onWarning?.(m));
  try {
    const orphans = removeOrphanTemps(runDir);
    if (orphans.length) {
      options.events?.onWarning?.(
        `removed ${orphans.length} temporary file(s) of killed writes: ${orphans.join(", ")}`,
      );
    }
    const resumable = readResumable(runDir, options.overrides ?? []);
    // Never re-applies model.init_from: the state holds the weights, and the file may be gone.
    const parts = await prepareTraining(resumable.config, options.events, runDir, false);
    try {
      return await _train(await openResumedRun(resumable, parts, options, lock));
    } finally {
      parts.dispose();
    }
  } finally {
    lock.release();
  }
}

/** The loop: each epoch is trained, validated, checkpointed and recorded; then the run is finished. */
async function _train(s: RunSession): Promise<ExperimentResult> {
  const clock = _clock(s.state.wallSeconds);
  s.options.events?.onStart?.(_startInfo(s));
  try {
    for (let epoch = s.state.completedEpochs; epoch < s.config.train.epochs; epoch++) {
      const trained = await _trainEpoch(s, epoch, clock);
      const { row, best } = await _validate(s, epoch, trained);
      await _checkpoint(s, row, best, clock);
      _record(s, row, best, clock);
    }
    return _finish(s, "completed", null, clock);
  } catch (err) {
    _finish(s, _statusOf(err), err, clock);
    if (err instanceof VitlabError && !(err instanceof InterruptedError)) {
      err.message += ` (run directory: ${s.runDir})`;
    }
    throw err;
  }
}

function _clock(priorSeconds: number): () => number {
  const t0 = performance.now();
  return () => priorSeconds + (performance.now() - t0) / 1000;
}

function _startInfo(s: RunSession): StartInfo {
  return {
    runDir: s.runDir,
    backend: s.backend,
    paramCount: s.model.paramCount(),
    trainCount: s.train.count,
    valCount: s.val.count,
    stepsPerEpoch: s.trainer.stepsPerEpoch,
    replicas: s.replicas,
    resumedAt: s.resumedAt,
    init: s.init,
  };
}

/**
 * Trains one epoch (or the rest of the one the state stopped in). Stopped by the signal, it
 * writes the state and throws {@linkcode InterruptedError}.
 */
async function _trainEpoch(s: RunSession, epoch: number, clock: () => number): Promise<EpochTrainResult> {
  const { events, signal } = s.options;
  const outcome = await s.trainer.trainEpoch(epoch, {
    ...(events?.onStep ? { onStep: events.onStep } : {}),
    ...(s.state.progress ? { resume: s.state.progress } : {}),
    shouldStop: () => signal?.aborted ?? false,
  });
  s.state.progress = null;
  if (outcome.done) return outcome.result;
  await _saveState(s, epoch, outcome.progress, clock);
  const p = outcome.progress;
  const sig = signal?.reason === "SIGTERM" ? "SIGTERM" : "SIGINT";
  const message = `interrupted (${sig}) at epoch ${epoch + 1}, step ${p.step} of ${s.trainer.stepsPerEpoch}; ` +
    `resume with: deno task exp --resume ${s.runDir}`;
  throw new InterruptedError(message, s.runDir, sig === "SIGTERM" ? 143 : 130);
}

/** Validates the weights (and their moving average) and makes the epoch's metrics row. */
async function _validate(
  s: RunSession,
  epoch: number,
  r: EpochTrainResult,
): Promise<{ row: MetricsRow; best: boolean }> {
  const { model, trainer, val } = s;
  const batch = s.config.train.eval_batch_size;
  const replicas = trainer.evalReplicas;
  const v = val.count > 0
    ? await evaluate(model, val, trainer.norm, batch, { replicas })
    : { loss: NaN, acc: NaN, count: 0 };
  const ema = trainer.ema && val.count > 0
    ? await trainer.ema.withWeights(model, () => evaluate(model, val, trainer.norm, batch, { replicas }))
    : null;
  const row: MetricsRow = {
    ...(trainer.ema ? { ema_val_loss: ema?.loss ?? NaN, ema_val_acc: ema?.acc ?? NaN } : {}),
    epoch: epoch + 1,
    step: (epoch + 1) * trainer.stepsPerEpoch,
    lr: r.lr,
    train_loss: r.trainLoss,
    train_acc: r.trainAcc,
    val_loss: v.loss,
    val_acc: v.acc,
    epoch_seconds: r.seconds,
    images_per_second: r.images / r.seconds,
  };
  const prior = s.state.best;
  // With no validation split there is nothing to rank by: best follows last.
  const best = val.count === 0 || prior === null || prior.val_acc === null || row.val_acc > prior.val_acc;
  s.state.lastRow = row;
  s.state.rows?.push(row);
  if (best) {
    s.state.best = {
      epoch: row.epoch,
      val_acc: Number.isFinite(row.val_acc) ? row.val_acc : null,
      val_loss: Number.isFinite(row.val_loss) ? row.val_loss : null,
    };
  }
  return { row, best };
}

/**
 * Writes the epoch's files. The state goes first: once it is on disk, the epoch is safe,
 * whatever happens next.
 */
async function _checkpoint(s: RunSession, row: MetricsRow, best: boolean, clock: () => number): Promise<void> {
  const file = (f: string) => join(s.runDir, f);
  const meta = epochMetadata({ config: s.configText, config_hash: s.configHash }, row);
  const { model, trainer } = s;
  if (row.epoch % s.config.run.checkpoint_every === 0 || row.epoch === s.config.train.epochs) {
    await _saveState(s, row.epoch, null, clock);
    await saveCheckpoint(file(RUN_FILES.last), model, meta);
    if (trainer.ema) await trainer.ema.withWeights(model, () => saveCheckpoint(file(RUN_FILES.ema), model, meta));
  }
  if (best) await saveCheckpoint(file(RUN_FILES.best), model, meta);
}

async function _saveState(
  s: RunSession,
  completedEpochs: number,
  progress: EpochProgress | null,
  clock: () => number,
): Promise<void> {
  const state: TrainingState = { ...s.state, completedEpochs, progress, wallSeconds: clock() };
  const { model, trainer } = s;
  await saveState(join(s.runDir, RUN_FILES.state), model, trainer.optimizer, state, s.configText, trainer.ema);
}

/** Appends the metrics row, brings the summary up to date and tells the caller. */
function _record(s: RunSession, row: MetricsRow, best: boolean, clock: () => number): void {
  s.metrics.append(row);
  const summary = s.summary;
  summary.best_epoch = s.state.best?.epoch ?? null;
  summary.best_val_acc = s.state.best?.val_acc ?? null;
  summary.best_val_loss = s.state.best?.val_loss ?? null;
  summary.epochs_completed = row.epoch;
  summary.steps = row.step;
  summary.final = row;
  summary.wall_seconds = clock();
  writeSummary(join(s.runDir, RUN_FILES.summary), summary);
  s.options.events?.onEpoch?.(row, best);
}

function _statusOf(err: unknown): RunSummary["status"] {
  if (err instanceof InterruptedError) return "interrupted";
  return err instanceof DivergedError ? "diverged" : "failed";
}

/** Writes the final summary; after an error, the error is what matters if that write fails. */
function _finish(s: RunSession, status: RunSummary["status"], err: unknown, clock: () => number): ExperimentResult {
  const summary = s.summary;
  summary.status = status;
  summary.ended_at = new Date().toISOString();
  summary.wall_seconds = clock();
  if (err !== null) summary.error = err instanceof Error ? err.message : String(err);
  try {
    writeSummary(join(s.runDir, RUN_FILES.summary), summary);
  } catch (writeErr) {
    if (err === null) throw writeErr;
  }
  return { runDir: s.runDir, summary };
}
