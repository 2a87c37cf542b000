/**
 * vitlab — reproducible Vision Transformer experiments in Deno and TensorFlow.js.
 *
 * The library behind the `vitlab` CLI, as a library user needs it: load a config, run or resume
 * an experiment into a self-describing run directory, evaluate a run's checkpoint, build the
 * timm-layout ViT, load a dataset split, and compare runs. The CLI's other internals (kernels,
 * the prefetch worker, file formats) stay inside `lib/`.
 *
 * @example
 * ```ts
 * import { configFromObject, evaluateRun, runExperiment } from "./mod.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const { runDir, summary } = await runExperiment(config, { runsDir: Deno.makeTempDirSync() });
 * if (summary.status !== "completed") throw new Error("run failed");
 * const { acc } = await evaluateRun(runDir, { split: "test" });
 * if (!(acc >= 0 && acc <= 1)) throw new Error("no accuracy");
 * ```
 *
 * @module
 */

// Configs: load a file or build one from objects; the schema's names.
export {
  type BackendName,
  BACKENDS,
  type Config,
  type ConfigInput,
  type DatasetFilled,
  type DatasetName,
  DATASETS,
  VARIANTS,
} from "./lib/config/schema.ts";
export { configFromObject, loadConfig, type LoadOptions } from "./lib/config/load.ts";
export { configHash } from "./lib/config/hash.ts";
export { vitParamCount, type VitSize, vitSizeFromConfig, vitTrainFlops } from "./lib/config/size.ts";

// Running, resuming and evaluating experiments.
export {
  type ExperimentEvents,
  type ExperimentOptions,
  type ExperimentResult,
  resumeExperiment,
  type ResumeOptions,
  runExperiment,
  type StartInfo,
} from "./lib/runs/experiment.ts";
export { RESUMABLE_KEYS } from "./lib/runs/resume_rules.ts";
export { evaluateRun, type EvaluateRunOptions, type EvaluateRunResult } from "./lib/runs/evaluate_run.ts";
export {
  EVAL_CHECKPOINTS,
  type EvalCheckpoint,
  evalColumn,
  type EvalRecord,
  readEvals,
  type RunEvals,
} from "./lib/runs/evals.ts";
export type { RunStatus, RunSummary } from "./lib/runs/summary.ts";
export { EMA_COLUMNS, METRIC_COLUMNS, type MetricsRow } from "./lib/runs/metrics.ts";
export { RUN_FILES } from "./lib/runs/run_dir.ts";
export type { StepEvent } from "./lib/train/trainer.ts";

// The model, its checkpoints and timm.
export { type BackendInfo, initBackend } from "./lib/backend/backend.ts";
export { VisionTransformer, type VitShape, vitShapeFromConfig } from "./lib/model/vit.ts";
export { EVAL, type ForwardContext } from "./lib/model/context.ts";
export type { Layout, Param, ParamSpec, ParamStore } from "./lib/model/params.ts";
export type { Init } from "./lib/model/init.ts";
export { Rng, type RngState } from "./lib/random.ts";
export { type TimmArgs, timmArgs } from "./lib/model/timm_args.ts";
export { loadCheckpoint, saveCheckpoint } from "./lib/runs/checkpoint.ts";
export type { NamedArray } from "./lib/runs/safetensors.ts";

// Starting from trained weights: timm's loading rules and adaptations, layer decay, freezing.
export { initFromCheckpoint, type InitOptions, type InitReport } from "./lib/runs/init_from.ts";
export {
  adaptInputConv,
  bicubicMatrix,
  resampleAbsPosEmbed,
  resamplePatchEmbed,
  type ResizeOptions,
} from "./lib/model/resample.ts";
export { layerDecayScales, layerId } from "./lib/train/layer_decay.ts";
export { type FreezeSetting, frozenNames } from "./lib/train/freeze.ts";

// The model's modules, as VisionTransformer holds them.
//
// On tfjs types: these signatures (and VisionTransformer's and ParamStore's) use tfjs-core's Tensor
// and Variable, which are tfjs's own public API and are not re-exported here: re-exporting them
// makes `deno doc --lint` lint tfjs's declarations as vitlab's (it counts npm packages under
// node_modules/ as local code; denoland/deno#27364). The tfjs imports in lib/model/ carry
// `@internal` instead, which stops the lint from reporting them as private types.
export type { Attention } from "./lib/model/attention.ts";
export type { Block, BlockOptions } from "./lib/model/block.ts";
export type { LayerNorm } from "./lib/model/layer_norm.ts";
export type { Linear } from "./lib/model/linear.ts";
export type { Mlp } from "./lib/model/mlp.ts";
export type { PatchEmbed } from "./lib/model/patch_embed.ts";

// Datasets.
export type { ImageSet } from "./lib/data/image_set.ts";
export { loadSplit, loadTrainVal, type SplitName } from "./lib/data/splits.ts";

// Comparing runs: reads run directories only and never loads tfjs.
export { type LoadedRuns, loadRuns } from "./lib/compare/load_runs.ts";
export type { RunRecord, RunStats } from "./lib/compare/read_run.ts";
export type { SkippedDir } from "./lib/compare/find_runs.ts";
export type { ConfigValue } from "./lib/compare/flatten.ts";
export {
  type Cell,
  type Column,
  type ColumnKind,
  type ComparisonTable,
  type MeanStd,
  runTable,
  sortTable,
} from "./lib/compare/table.ts";
export { groupTable } from "./lib/compare/aggregate.ts";
export { type Format, type FormatOptions, FORMATS, formatTable } from "./lib/compare/format.ts";
export { type PlotOptions, plotSvg } from "./lib/compare/plot.ts";

// Looking inside a trained model: attention maps, the ViT paper's figures, the errors.
export {
  type VisualizeOptions,
  type VisualizeResult,
  visualizeRun,
  VIZ_DEFAULT_IMAGES,
  VIZ_MAX_IMAGES,
} from "./lib/viz/visualize.ts";
export type { VizFile } from "./lib/viz/figures.ts";
export { classNames } from "./lib/data/class_names.ts";

// Errors, each with its exit code.
export {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  DivergedError,
  InterruptedError,
  RunError,
  UsageError,
  VitlabError,
} from "./lib/errors.ts";
