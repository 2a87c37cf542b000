/**
 * One experiment end to end: backend, data, model, training, and a self-describing run
 * directory (config.yaml, env.json, metrics.csv, checkpoints, summary.json) — started fresh,
 * rerun from another run's config, or resumed exactly where it stopped.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type BackendInfo, initBackend } from "../backend/backend.ts";
import { configToYaml } from "../config/dump.ts";
import { checkTrainingMemory } from "../config/estimate.ts";
import { configHash } from "../config/hash.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { ImageSet } from "../data/image_set.ts";
import { datasetFiles, loadTrainVal } from "../data/splits.ts";
import { CheckpointError, ConfigError, DivergedError, InterruptedError, UsageError, VitlabError } from "../errors.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import { evaluate } from "../train/evaluate.ts";
import { type EpochProgress, type StepEvent, Trainer } from "../train/trainer.ts";
import { writeFileAtomic } from "./atomic.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { collectEnv, type RunEnv } from "./env.ts";
import { type MetricsRow, MetricsWriter, readMetrics } from "./metrics.ts";
import { createRunDir, RUN_FILES } from "./run_dir.ts";
import { loadState, saveState, type TrainingState } from "./state.ts";
import { timmArgs } from "../model/timm_args.ts";
import { readSummary, type RunSummary, writeSummary } from "./summary.ts";

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
  runDir: string;
  backend: BackendInfo;
  paramCount: number;
  trainCount: number;
  valCount: number;
  stepsPerEpoch: number;
  /** Where a resumed run continues: one-based epoch and step within it; null for a new run. */
  resumedAt: { epoch: number; step: number } | null;
}

/** Options of {@linkcode runExperiment} and {@linkcode resumeExperiment}. */
export interface ExperimentOptions {
  /** Root of all runs (`runs/` in the CLI). Unused by resume, which writes in place. */
  runsDir: string;
  /** The command line, recorded in env.json. */
  command?: string[];
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
  runDir: string;
  summary: RunSummary;
}

/** Keys a resume may change: they do not alter what was already trained. */
const RESUMABLE_KEYS = ["train.epochs", "train.eval_batch_size", "run.backend", "run.tags", "run.prefetch"] as const;

/**
 * Hash of everything that decides the training trajectory (all but {@linkcode RESUMABLE_KEYS}).
 * @param config a resolved config
 * @returns hex digest
 */
export function trajectoryHash(config: Config): string {
  const c = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  for (const key of RESUMABLE_KEYS) {
    const [s, k] = key.split(".") as [string, string];
    delete c[s]![k];
  }
  return configHash(c);
}

/**
 * Trains the model a config declares in a new run directory.
 * @param config a resolved config (see {@linkcode loadConfig})
 * @param options where to write, whom to tell, when to stop
 * @returns the run directory and its final summary
 * @throws {VitlabError} subclasses for bad input or failed runs; once the run directory
 *   exists, its summary.json says `failed`, `diverged` or `interrupted`
 */
export async function runExperiment(config: Config, options: ExperimentOptions): Promise<ExperimentResult> {
  const started = new Date();
  const backend = await initBackend(config.run.backend);
  checkTrainingMemory(config, backend.name);
  if (options.rerunOf) _compareEnv(options.rerunOf, backend, options.events);
  const { train, val } = loadTrainVal(config);
  const hash = configHash(config);
  const name = config.run.name ?? "run";
  const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  const trainer = new Trainer(config, model, train);
  try {
    const runDir = createRunDir(options.runsDir, name, hash, started);
    _writeConfig(runDir, config);
    const env = collectEnv({
      backend,
      command: options.command ?? [],
      seed: config.train.seed,
      configHash: hash,
      datasetFiles: datasetFiles(config),
    });
    writeFileAtomic(join(runDir, RUN_FILES.env), JSON.stringify(env, null, 2) + "\n");
    const summary: RunSummary = {
      status: "running",
      name,
      run_dir: runDir,
      config_hash: hash,
      param_count: model.paramCount(),
      backend: backend.name,
      device: backend.device,
      epochs: config.train.epochs,
      epochs_completed: 0,
      steps: 0,
      best_epoch: null,
      best_val_acc: null,
      best_val_loss: null,
      final: null,
      wall_seconds: 0,
      started_at: started.toISOString(),
      ended_at: null,
      tags: config.run.tags,
      error: null,
      rerun_of: options.rerunOf ?? null,
      timm: timmArgs(config),
      resumes: [],
    };
    writeSummary(join(runDir, RUN_FILES.summary), summary);
    const metrics = new MetricsWriter(join(runDir, RUN_FILES.metrics), [], trainer.ema !== null);
    return await _train({
      config,
      runDir,
      backend,
      model,
      trainer,
      train,
      val,
      summary,
      metrics,
      state: null,
      options,
    });
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/** Options of {@linkcode resumeExperiment}. */
export interface ResumeOptions extends Omit<ExperimentOptions, "runsDir" | "rerunOf"> {
  /** `key=value` overrides; only train.epochs, train.eval_batch_size, run.backend and run.tags may change. */
  overrides?: string[];
}

/**
 * Continues a run that stopped (interrupted, crashed, or completed with more epochs asked
 * for) from its `checkpoints/state.safetensors`: weights, optimizer moments and step, schedule
 * position, random streams and data order are restored, and metrics.csv is appended to. On
 * cpu and wasm the result is byte-identical to an uninterrupted run.
 * @param runDir the run directory
 * @param options overrides, callbacks, stop signal
 * @returns the run directory and its final summary
 * @throws {UsageError} when runDir is not a run or has nothing left to train
 * @throws {ConfigError} when an override would change the trajectory
 * @throws {CheckpointError} when the state file is missing, corrupt or from another config
 */
export async function resumeExperiment(runDir: string, options: ResumeOptions = {}): Promise<ExperimentResult> {
  const configPath = join(runDir, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UsageError(`${runDir}: not a run directory (no ${RUN_FILES.config})`);
  const recorded = loadConfig(configPath);
  const config = loadConfig(configPath, { overrides: options.overrides ?? [] });
  if (trajectoryHash(config) !== trajectoryHash(recorded)) {
    throw new ConfigError(
      `--resume ${runDir}: only ${RESUMABLE_KEYS.join(", ")} may change when resuming (${
        _firstDifference(recorded, config)
      }); start a new run instead`,
    );
  }
  const statePath = join(runDir, RUN_FILES.state);
  if (!existsSync(statePath)) {
    throw new CheckpointError(
      `${statePath}: no training state (the run stopped before its first checkpoint); start it again with --rerun ${runDir}`,
    );
  }
  const summaryPath = join(runDir, RUN_FILES.summary);
  let summary: RunSummary;
  try {
    summary = readSummary(summaryPath);
  } catch {
    throw new CheckpointError(`${summaryPath}: missing or not valid JSON`);
  }
  const backend = await initBackend(config.run.backend);
  checkTrainingMemory(config, backend.name);
  _compareEnv(runDir, backend, options.events);
  const { train, val } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  const trainer = new Trainer(config, model, train);
  try {
    const state = loadState(statePath, model, trainer.optimizer, trainer.ema);
    if (state.trajectoryHash !== trajectoryHash(recorded)) {
      throw new CheckpointError(`${statePath}: written by another config than ${configPath} (was config.yaml edited?)`);
    }
    if (state.completedEpochs >= config.train.epochs && state.progress === null) {
      throw new UsageError(
        `${runDir}: already trained ${state.completedEpochs} of ${config.train.epochs} epochs; ask for more with --set train.epochs=N`,
      );
    }
    // metrics.csv keeps every row up to the state; rows past it (checkpoint_every > 1) are
    // trained again and written again, identically on cpu and wasm.
    const rows = existsSync(join(runDir, RUN_FILES.metrics)) ? readMetrics(join(runDir, RUN_FILES.metrics)) : [];
    const kept = rows.filter((r) => r.epoch <= state.completedEpochs);
    if (kept.length < state.completedEpochs && state.lastRow && state.lastRow.epoch === kept.length + 1) {
      kept.push(state.lastRow);
    }
    if (rows.length > kept.length && rows.length > state.completedEpochs) {
      options.events?.onWarning?.(
        `metrics.csv rows after epoch ${state.completedEpochs} (the last checkpoint) will be trained and written again`,
      );
    }
    const metrics = new MetricsWriter(join(runDir, RUN_FILES.metrics), kept, trainer.ema !== null);
    if (config.train.epochs !== recorded.train.epochs || config.run.backend !== recorded.run.backend) {
      _writeConfig(runDir, config);
    }
    summary = {
      ...summary,
      status: "running",
      epochs: config.train.epochs,
      backend: backend.name,
      device: backend.device,
      error: null,
      ended_at: null,
      // Runs from before this field gain it on resume.
      timm: timmArgs(config),
      resumes: [...(summary.resumes ?? []), {
        at: new Date().toISOString(),
        epoch: state.completedEpochs + 1,
        step: state.progress?.step ?? 0,
        command: options.command ?? [],
      }],
    };
    writeSummary(summaryPath, summary);
    return await _train({ config, runDir, backend, model, trainer, train, val, summary, metrics, state, options });
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

interface _Run {
  config: Config;
  runDir: string;
  backend: BackendInfo;
  model: VisionTransformer;
  trainer: Trainer;
  train: ImageSet;
  val: ImageSet;
  summary: RunSummary;
  metrics: MetricsWriter;
  state: TrainingState | null;
  options: ExperimentOptions | ResumeOptions;
}

async function _train(run: _Run): Promise<ExperimentResult> {
  const { config, runDir, model, trainer, val, summary, metrics, options } = run;
  const file = (f: string) => join(runDir, f);
  const t0 = performance.now();
  const priorSeconds = run.state?.wallSeconds ?? 0;
  const wall = () => priorSeconds + (performance.now() - t0) / 1000;
  const configText = configToYaml(config);
  const hash = configHash(config);
  const trajectory = trajectoryHash(config);
  let best = run.state?.best ?? null;
  let lastRow: MetricsRow | null = run.state?.lastRow ?? null;
  const startEpoch = run.state?.completedEpochs ?? 0;
  let resume: EpochProgress | undefined = run.state?.progress ?? undefined;
  const state = (completedEpochs: number, progress: EpochProgress | null): TrainingState => ({
    completedEpochs,
    progress,
    best,
    lastRow,
    trajectoryHash: trajectory,
    wallSeconds: wall(),
  });
  options.events?.onStart?.({
    runDir,
    backend: run.backend,
    paramCount: model.paramCount(),
    trainCount: run.train.count,
    valCount: val.count,
    stepsPerEpoch: trainer.stepsPerEpoch,
    resumedAt: run.state ? { epoch: startEpoch + 1, step: resume?.step ?? 0 } : null,
  });
  try {
    for (let epoch = startEpoch; epoch < config.train.epochs; epoch++) {
      const outcome = await trainer.trainEpoch(epoch, {
        ...(options.events?.onStep ? { onStep: options.events.onStep } : {}),
        ...(resume ? { resume } : {}),
        shouldStop: () => options.signal?.aborted ?? false,
      });
      resume = undefined;
      if (!outcome.done) {
        await saveState(
          file(RUN_FILES.state),
          model,
          trainer.optimizer,
          state(epoch, outcome.progress),
          configText,
          trainer.ema,
        );
        const p = outcome.progress;
        const sig = options.signal?.reason === "SIGTERM" ? "SIGTERM" : "SIGINT";
        const message = `interrupted (${sig}) at epoch ${epoch + 1}, step ${p.step} of ${trainer.stepsPerEpoch}; ` +
          `resume with: deno task exp --resume ${runDir}`;
        throw new InterruptedError(message, runDir, sig === "SIGTERM" ? 143 : 130);
      }
      const r = outcome.result;
      const v = val.count > 0
        ? await evaluate(model, val, trainer.norm, config.train.eval_batch_size)
        : { loss: NaN, acc: NaN, count: 0 };
      const ema = trainer.ema && val.count > 0
        ? await trainer.ema.withWeights(model, () => evaluate(model, val, trainer.norm, config.train.eval_batch_size))
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
      lastRow = row;
      // With no validation split there is nothing to rank by: best follows last.
      const isBest = val.count === 0 || best === null || best.val_acc === null || row.val_acc > best.val_acc;
      if (isBest) {
        best = {
          epoch: row.epoch,
          val_acc: Number.isFinite(row.val_acc) ? row.val_acc : null,
          val_loss: Number.isFinite(row.val_loss) ? row.val_loss : null,
        };
      }
      const meta = {
        config: configText,
        config_hash: hash,
        epoch: String(row.epoch),
        step: String(row.step),
        val_acc: String(row.val_acc),
        val_loss: String(row.val_loss),
      };
      const lastEpoch = row.epoch === config.train.epochs;
      // The state goes first: once it is on disk, the epoch is safe, whatever happens next.
      if (row.epoch % config.run.checkpoint_every === 0 || lastEpoch) {
        await saveState(
          file(RUN_FILES.state),
          model,
          trainer.optimizer,
          state(row.epoch, null),
          configText,
          trainer.ema,
        );
        await saveCheckpoint(file(RUN_FILES.last), model, meta);
        if (trainer.ema) await trainer.ema.withWeights(model, () => saveCheckpoint(file(RUN_FILES.ema), model, meta));
      }
      if (isBest) await saveCheckpoint(file(RUN_FILES.best), model, meta);
      metrics.append(row);
      summary.best_epoch = best?.epoch ?? null;
      summary.best_val_acc = best?.val_acc ?? null;
      summary.best_val_loss = best?.val_loss ?? null;
      summary.epochs_completed = row.epoch;
      summary.steps = row.step;
      summary.final = row;
      summary.wall_seconds = wall();
      writeSummary(file(RUN_FILES.summary), summary);
      options.events?.onEpoch?.(row, isBest);
    }
    summary.status = "completed";
    summary.ended_at = new Date().toISOString();
    summary.wall_seconds = wall();
    writeSummary(file(RUN_FILES.summary), summary);
    return { runDir, summary };
  } catch (err) {
    summary.status = err instanceof InterruptedError
      ? "interrupted"
      : err instanceof DivergedError
      ? "diverged"
      : "failed";
    summary.ended_at = new Date().toISOString();
    summary.wall_seconds = wall();
    summary.error = err instanceof Error ? err.message : String(err);
    try {
      writeSummary(file(RUN_FILES.summary), summary);
    } catch { /* the original error matters more than a summary that could not be written */ }
    if (err instanceof VitlabError && !(err instanceof InterruptedError)) err.message += ` (run directory: ${runDir})`;
    throw err;
  }
}

function _writeConfig(runDir: string, config: Config): void {
  const path = join(runDir, RUN_FILES.config);
  writeFileAtomic(
    path,
    configToYaml(config, [`Resolved config of run ${runDir}`, `Rerun: deno task exp --rerun ${runDir}`]),
  );
}

function _compareEnv(runDir: string, backend: BackendInfo, events?: ExperimentEvents): void {
  let recorded: RunEnv;
  try {
    recorded = JSON.parse(readFileSync(join(runDir, RUN_FILES.env), "utf8"));
  } catch {
    events?.onWarning?.(`${join(runDir, RUN_FILES.env)} is missing or unreadable: cannot compare environments`);
    return;
  }
  const now = collectEnv({ backend, command: [], seed: 0, configHash: "", datasetFiles: [] });
  const diffs = (["vitlab_version", "deno", "tfjs", "backend", "device"] as const)
    .filter((k) => recorded[k] !== now[k])
    .map((k) => `${k} ${recorded[k]} → ${now[k]}`);
  if (diffs.length) {
    events?.onWarning?.(`environment differs from ${runDir}: ${diffs.join("; ")}; results may not match bit for bit`);
  }
}

function _firstDifference(a: Config, b: Config): string {
  for (const [section, values] of Object.entries(a)) {
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      const other = (b as unknown as Record<string, Record<string, unknown>>)[section]![key];
      if (JSON.stringify(value) !== JSON.stringify(other)) {
        return `${section}.${key} was ${JSON.stringify(value)}, now ${JSON.stringify(other)}`;
      }
    }
  }
  return "no difference";
}
