/**
 * Opening a run for training: a new run directory, or an existing one to resume. Both end in the
 * same {@linkcode RunSession}, whose state says where training stands; a new run's state is the
 * start (epoch 0, step 0), so the loop in experiment.ts has one path.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type BackendInfo, initBackend } from "../backend/backend.ts";
import { configToYaml } from "../config/dump.ts";
import { checkEvalMemory, checkTrainingMemory } from "../config/estimate.ts";
import { configHash } from "../config/hash.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { ImageSet } from "../data/image_set.ts";
import { datasetFiles, loadTrainVal } from "../data/splits.ts";
import { CheckpointError, ConfigError, fileErrorReason, UsageError } from "../errors.ts";
import { timmArgs } from "../model/timm_args.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import { Trainer } from "../train/trainer.ts";
import { writeFileAtomic } from "./atomic.ts";
import { collectEnv, type RunEnv } from "./env.ts";
import { initFromCheckpoint, type InitReport } from "./init_from.ts";
import type { ExperimentEvents, ExperimentOptions, ResumeOptions } from "./experiment.ts";
import { lockRunDir, type RunLock } from "./lock.ts";
import { MetricsWriter } from "./metrics.ts";
import { reopenMetrics, repairCheckpoints, runStartedAt, summaryFromState, summaryProblem } from "./repair.ts";
import { firstDifference, RESUMABLE_KEYS, trajectoryHash } from "./resume_rules.ts";
import { createRunDir, RUN_FILES } from "./run_dir.ts";
import { loadState, type TrainingState } from "./state.ts";
import { type RunSummary, writeSummary } from "./summary.ts";

/** Backend, data, model and trainer of a run: what both a new run and a resume need. */
export interface TrainingParts {
  config: Config;
  backend: BackendInfo;
  train: ImageSet;
  val: ImageSet;
  model: VisionTransformer;
  trainer: Trainer;
  /** Threads computing each step (this one and its replica workers). */
  replicas: number;
  /** Where the weights came from when model.init_from set them; null for a seeded start or a resume. */
  init: InitReport | null;
  /** Frees the model and the trainer. */
  dispose(): void;
}

/** A run directory open for training, and where its training stands. */
export interface RunSession extends TrainingParts {
  runDir: string;
  summary: RunSummary;
  metrics: MetricsWriter;
  /** Where training stands; updated as it goes. A new run starts at epoch 0, step 0. */
  state: TrainingState;
  /** Where this session started: one-based epoch and step; null for a new run. */
  resumedAt: { epoch: number; step: number } | null;
  options: ExperimentOptions | ResumeOptions;
  /** config.yaml's text, stored in every checkpoint. */
  configText: string;
  /** The config's hash, stored in every checkpoint. */
  configHash: string;
  /** This process's hold on the run directory; released when training ends. */
  lock: RunLock;
}

/**
 * Initialises the backend and builds data, model and trainer; checks memory first.
 * @param config the resolved config
 * @param events where warnings go
 * @param compareWith a run directory whose env.json is compared with this machine's
 * @param fresh a new run: the weights come from model.init_from when it is set (a resume's come
 *   from its state, and init_from is never read again)
 * @returns the parts, to be disposed by the caller
 */
export async function prepareTraining(
  config: Config,
  events: ExperimentEvents | undefined,
  compareWith: string | undefined,
  fresh: boolean,
): Promise<TrainingParts> {
  const backend = await initBackend(config.run.backend);
  checkTrainingMemory(config, backend.name);
  checkEvalMemory(config, config.train.eval_batch_size, backend.name, "train.eval_batch_size");
  if (compareWith !== undefined) _compareEnv(compareWith, backend, events);
  const { train, val } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  let trainer: Trainer | null = null;
  let init: InitReport | null = null;
  let replicas = 1;
  try {
    // Before the trainer: its moving average starts from the weights as they are now.
    const from = fresh ? config.model.init_from : null;
    init = from === null ? null : initFromCheckpoint(model, from, { strict: config.model.init_strict });
    if (init && compareWith !== undefined) _compareInit(compareWith, init, events);
    trainer = new Trainer(config, model, train);
    replicas = await trainer.startReplicas(backend.name);
  } catch (err) {
    trainer?.dispose();
    model.dispose();
    throw err;
  }
  const built = trainer;
  return {
    config,
    backend,
    train,
    val,
    model,
    trainer: built,
    replicas,
    init,
    dispose() {
      built.dispose();
      model.dispose();
    },
  };
}

/**
 * Creates the run directory of a new run and writes config.yaml, env.json and summary.json.
 * @param parts the prepared training
 * @param options where runs go, the command, what this reruns
 * @param started when the run began
 * @returns the session, at epoch 0, step 0
 */
export function openNewRun(parts: TrainingParts, options: ExperimentOptions, started: Date): RunSession {
  // A library caller's config may leave run.name unset: settle it now, so config.yaml (read
  // back by a resume) names the group the run is filed under.
  const config: Config = { ...parts.config, run: { ...parts.config.run, name: parts.config.run.name ?? "run" } };
  const hash = configHash(config);
  const runDir = createRunDir(options.runsDir, config.run.name!, hash, started);
  const lock = lockRunDir(runDir);
  try {
    return _startRun({ ...parts, config }, options, started, runDir, hash, lock);
  } catch (err) {
    // Nothing was trained: leave no empty or half-made run directory behind (a full disk).
    lock.release();
    try {
      Deno.removeSync(runDir, { recursive: true });
    } catch { /* what cannot be removed stays, and the error says why */ }
    throw err;
  }
}

function _startRun(
  parts: TrainingParts,
  options: ExperimentOptions,
  started: Date,
  runDir: string,
  hash: string,
  lock: RunLock,
): RunSession {
  const { config, backend } = parts;
  writeConfigYaml(runDir, config);
  const env = collectEnv({
    backend,
    command: options.command ?? [],
    seed: config.train.seed,
    configHash: hash,
    datasetFiles: datasetFiles(config),
    initFrom: parts.init,
  });
  writeFileAtomic(join(runDir, RUN_FILES.env), JSON.stringify(env, null, 2) + "\n");
  const summary = _newSummary(parts, runDir, config.run.name!, hash, started, options.rerunOf ?? null);
  writeSummary(join(runDir, RUN_FILES.summary), summary);
  const state: TrainingState = {
    completedEpochs: 0,
    progress: null,
    best: null,
    lastRow: null,
    rows: [],
    trajectoryHash: trajectoryHash(config),
    wallSeconds: 0,
  };
  const metrics = new MetricsWriter(join(runDir, RUN_FILES.metrics), [], parts.trainer.ema !== null);
  const stored = checkpointConfig(config);
  return {
    ...parts,
    runDir,
    summary,
    metrics,
    state,
    resumedAt: null,
    options,
    configText: configToYaml(stored),
    configHash: configHash(stored),
    lock,
  };
}

function _newSummary(
  { config, backend, model }: TrainingParts,
  runDir: string,
  name: string,
  hash: string,
  started: Date,
  rerunOf: string | null,
): RunSummary {
  return {
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
    rerun_of: rerunOf,
    timm: timmArgs(config),
    resumes: [],
  };
}

/** A run directory's recorded config, the config to resume it with, and its summary. */
export interface Resumable {
  runDir: string;
  /** config.yaml as the run last ran. */
  recorded: Config;
  /** The recorded config with the resume's overrides. */
  config: Config;
  /** summary.json, or null when it is missing or damaged (it is then rebuilt from the state). */
  summary: RunSummary | null;
  /** Why summary.json could not be used. */
  summaryProblem: string | null;
}

/**
 * Checks that a run directory can be resumed with these overrides, before any backend starts.
 * @param runDir the run directory
 * @param overrides `key=value` strings; only {@linkcode RESUMABLE_KEYS} may change
 * @returns what the resume works from
 * @throws {UsageError} when runDir is not a run
 * @throws {ConfigError} when an override would change the trajectory
 * @throws {CheckpointError} when the state is missing
 */
export function readResumable(runDir: string, overrides: string[]): Resumable {
  const configPath = join(runDir, RUN_FILES.config);
  if (!existsSync(configPath)) throw new UsageError(`${runDir}: not a run directory (no ${RUN_FILES.config})`);
  const recorded = loadConfig(configPath);
  const config = loadConfig(configPath, { overrides });
  if (trajectoryHash(config) !== trajectoryHash(recorded)) {
    throw new ConfigError(
      `--resume ${runDir}: only ${RESUMABLE_KEYS.join(", ")} may change when resuming (${
        firstDifference(recorded, config)
      }); start a new run instead`,
    );
  }
  const statePath = join(runDir, RUN_FILES.state);
  if (!existsSync(statePath)) {
    throw new CheckpointError(
      `${statePath}: no training state (the run stopped before its first checkpoint); start it again with --rerun ${runDir}`,
    );
  }
  let value: unknown = null;
  let problem: string | null;
  try {
    value = JSON.parse(readFileSync(join(runDir, RUN_FILES.summary), "utf8"));
    problem = summaryProblem(value);
  } catch (err) {
    problem = err instanceof SyntaxError ? "not valid JSON" : fileErrorReason(err);
  }
  return { runDir, recorded, config, summary: problem ? null : value as RunSummary, summaryProblem: problem };
}

/**
 * Restores the state into the prepared model and optimizer and reopens the run's files from it:
 * metrics.csv holds exactly the state's rows, checkpoints the state's epoch, config.yaml the config
 * of this resume, and summary.json records the resume (rebuilt if it was damaged). Each repair
 * is told to `options.events.onWarning` in one line.
 * @param r what {@linkcode readResumable} returned
 * @param parts training prepared with `r.config`
 * @param options the command, events
 * @param lock this process's hold on the run directory
 * @returns the session, where the state left off
 * @throws {CheckpointError} when the state belongs to another config or is damaged
 * @throws {UsageError} when nothing is left to train
 */
export async function openResumedRun(
  r: Resumable,
  parts: TrainingParts,
  options: ResumeOptions,
  lock: RunLock,
): Promise<RunSession> {
  const { runDir, config, recorded } = r;
  const warn = (message: string) => options.events?.onWarning?.(message);
  const state = _restoreState(r, parts);
  const configText = configToYaml(checkpointConfig(config));
  const hash = configHash(checkpointConfig(config));
  if (state.completedEpochs >= config.train.epochs && state.progress === null) {
    warn(
      `${runDir} had trained all ${state.completedEpochs} epochs but stopped before its files were written; completing them`,
    );
  }
  const metrics = reopenMetrics(runDir, state, parts.trainer.ema !== null, warn);
  const meta = { config: configText, config_hash: hash };
  await repairCheckpoints(runDir, state, parts.model, parts.trainer.ema, meta, warn);
  // config.yaml always holds the config the run last ran with.
  if (firstDifference(recorded, config) !== null) writeConfigYaml(runDir, config);
  const resumedAt = { epoch: state.completedEpochs + 1, step: state.progress?.step ?? 0 };
  let prior = r.summary;
  if (prior === null) {
    warn(
      `${
        join(runDir, RUN_FILES.summary)
      }: ${r.summaryProblem}; rebuilt from the state (earlier resume records are lost)`,
    );
    const base = _newSummary(parts, runDir, config.run.name ?? "run", hash, runStartedAt(runDir), null);
    prior = summaryFromState(base, state, parts.trainer.stepsPerEpoch);
  }
  const summary: RunSummary = {
    ...prior,
    status: "running",
    epochs: config.train.epochs,
    backend: parts.backend.name,
    device: parts.backend.device,
    error: null,
    ended_at: null,
    // Runs from before this field gain it on resume.
    timm: timmArgs(config),
    resumes: [...(prior.resumes ?? []), { at: new Date().toISOString(), ...resumedAt, command: options.command ?? [] }],
  };
  writeSummary(join(runDir, RUN_FILES.summary), summary);
  return { ...parts, runDir, summary, metrics, state, resumedAt, options, configText, configHash: hash, lock };
}

/** Loads the state into model and optimizer, and checks it is this config's, intact and unfinished. */
function _restoreState(r: Resumable, parts: TrainingParts): TrainingState {
  const { runDir, config, recorded } = r;
  const statePath = join(runDir, RUN_FILES.state);
  const state = loadState(statePath, parts.model, parts.trainer.optimizer, parts.trainer.ema);
  if (state.trajectoryHash !== trajectoryHash(recorded)) {
    throw new CheckpointError(
      `${statePath}: written by another config than ${join(runDir, RUN_FILES.config)} (was config.yaml edited?)`,
    );
  }
  const steps = state.completedEpochs * parts.trainer.stepsPerEpoch + (state.progress?.step ?? 0);
  if (parts.trainer.optimizer.step !== steps) {
    throw new CheckpointError(
      `${statePath}: the optimizer took ${parts.trainer.optimizer.step} steps but the position says ${steps}; the state is damaged`,
    );
  }
  // A run killed after its last state but before its other files is finished here, not refused.
  if (state.completedEpochs >= config.train.epochs && state.progress === null && r.summary?.status === "completed") {
    throw new UsageError(
      `${runDir}: already trained ${state.completedEpochs} of ${config.train.epochs} epochs; ask for more with --set train.epochs=N`,
    );
  }
  return state;
}

/**
 * The config as checkpoints carry it: without `run.workers`, which changes how fast a step is
 * computed and nothing else, so a run's checkpoints are the same bytes at any replica count.
 * @param config the run's config
 * @returns a copy without that key
 */
export function checkpointConfig(config: Config): Config {
  const { workers: _, ...run } = config.run;
  return { ...config, run: run as Config["run"] };
}

/**
 * Writes a run's config.yaml atomically.
 * @param runDir the run directory
 * @param config the resolved config
 */
export function writeConfigYaml(runDir: string, config: Config): void {
  writeFileAtomic(
    join(runDir, RUN_FILES.config),
    configToYaml(config, [`Resolved config of run ${runDir}`, `Rerun: deno task exp --rerun ${runDir}`]),
  );
}

/** A rerun from a file that changed since the run it reruns starts from other weights: say so. */
function _compareInit(runDir: string, init: InitReport, events?: ExperimentEvents): void {
  let recorded: RunEnv;
  try {
    recorded = JSON.parse(readFileSync(join(runDir, RUN_FILES.env), "utf8"));
  } catch {
    return; // _compareEnv has said it
  }
  const before = recorded.init_from?.sha256;
  if (before !== undefined && before !== init.sha256) {
    events?.onWarning?.(
      `model.init_from ${init.file} is not the file ${runDir} started from (sha256 ${before.slice(0, 12)}… → ${
        init.sha256.slice(0, 12)
      }…); results will differ`,
    );
  }
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
