/**
 * vitlab — reproducible Vision Transformer experiments in Deno and TensorFlow.js.
 *
 * The library behind the `vitlab` CLI: load a YAML config, build a timm-layout ViT, train it
 * and write a self-describing run directory; evaluate a run's checkpoint.
 *
 * @example
 * ```ts
 * import { configFromObject, runExperiment } from "./mod.ts";
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 16, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 64 },
 *   train: { epochs: 1, batch_size: 16, warmup_epochs: 0 },
 *   run: { name: "doc", backend: "wasm" },
 * });
 * const dir = Deno.makeTempDirSync();
 * const { summary } = await runExperiment(config, { runsDir: dir });
 * if (summary.status !== "completed") throw new Error("run failed");
 * ```
 *
 * @module
 */

// Config: schema, loading, overrides, hashing.
export {
  type BackendName,
  BACKENDS,
  type Config,
  type DatasetName,
  DATASETS,
  defaultConfig,
  SCHEMA,
} from "./lib/config/schema.ts";
export { configFromObject, loadConfig, type LoadOptions, parseOverride } from "./lib/config/load.ts";
export { configToYaml } from "./lib/config/dump.ts";
export { canonicalJson, configHash } from "./lib/config/hash.ts";
export { describeKeys, type KeyRow } from "./lib/config/describe.ts";
export { DATASET_INFO, type DatasetInfo } from "./lib/config/dataset_info.ts";

// Errors with exit codes.
export {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  RunError,
  UsageError,
  VitlabError,
} from "./lib/errors.ts";

// Randomness.
export { Rng, type RngState } from "./lib/random.ts";

// Backends.
export { type BackendInfo, initBackend } from "./lib/backend/backend.ts";
export { matMul2d } from "./lib/backend/matmul.ts";

// Model.
export { VisionTransformer, type VitShape, vitShapeFromConfig } from "./lib/model/vit.ts";
export { EVAL, type ForwardContext } from "./lib/model/context.ts";
export { type ParamSpec, ParamStore } from "./lib/model/params.ts";

// Data.
export { type ImageSet, selectExamples } from "./lib/data/image_set.ts";
export { type IdxArray, parseIdx, readIdx } from "./lib/data/idx.ts";
export { loadIdxPair, loadMnist, MNIST_DIR } from "./lib/data/mnist.ts";
export { makeSynthetic, type SyntheticOptions } from "./lib/data/synthetic.ts";
export { loadSplit, loadTrainVal, type SplitName } from "./lib/data/splits.ts";
export { batchTensors, type HostBatch, hostBatch, makeBatch, type Normalization } from "./lib/data/batch.ts";
export { BatchSource, type EpochPlan } from "./lib/data/prefetch.ts";

// Training.
export { type OptimizerOptions, VitOptimizer } from "./lib/train/optimizer.ts";
export { learningRate, type ScheduleOptions } from "./lib/train/schedule.ts";
export { correctCount, crossEntropy } from "./lib/train/loss.ts";
export { clipByGlobalNorm, clipScale, globalNorm } from "./lib/train/clip.ts";
export { type EvalResult, evaluate } from "./lib/train/evaluate.ts";
export { type EpochTrainResult, type StepEvent, Trainer } from "./lib/train/trainer.ts";

// Runs: directories, metrics, checkpoints.
export { type ExperimentEvents, type ExperimentOptions, runExperiment, type StartInfo } from "./lib/runs/experiment.ts";
export { evaluateRun, type EvaluateRunOptions, type EvaluateRunResult } from "./lib/runs/evaluate_run.ts";
export { loadCheckpoint, modelTensors, saveCheckpoint } from "./lib/runs/checkpoint.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type NamedArray,
  readSafetensors,
  type SafetensorsFile,
  writeSafetensors,
} from "./lib/runs/safetensors.ts";
export { METRIC_COLUMNS, type MetricsRow, MetricsWriter, readMetrics } from "./lib/runs/metrics.ts";
export { createRunDir, RUN_FILES, timestamp } from "./lib/runs/run_dir.ts";
export { readSummary, type RunStatus, type RunSummary, writeSummary } from "./lib/runs/summary.ts";
export { collectEnv, type RunEnv, VITLAB_VERSION } from "./lib/runs/env.ts";
export { writeFileAtomic } from "./lib/runs/atomic.ts";

// Comparing runs: reads run directories only (config.yaml, metrics.csv, summary.json) and
// never loads tfjs; tables, --group-by aggregates and learning-curve plots.
export { findRuns, type FoundRuns, isRunDir, type SkippedDir } from "./lib/compare/find_runs.ts";
export { readRun, type RunRecord, type RunStats, runStats } from "./lib/compare/read_run.ts";
export { commonParent, type LoadedRuns, loadRuns } from "./lib/compare/load_runs.ts";
export { configText, type ConfigValue, flattenConfig } from "./lib/compare/flatten.ts";
export { differingKeys } from "./lib/compare/diff_keys.ts";
export {
  type Cell,
  type Column,
  type ComparisonTable,
  DEFAULT_SORT,
  type MeanStd,
  RUN_COLUMNS,
  runTable,
  sortTable,
} from "./lib/compare/table.ts";
export { groupTable, meanStd } from "./lib/compare/aggregate.ts";
export { type Format, FORMATS, formatTable } from "./lib/compare/format.ts";
export { type PlotOptions, plotSpec, plotSvg } from "./lib/compare/plot.ts";
export { svgToPng } from "./lib/compare/png.ts";

// Benchmarks.
export { type BenchOptions, type BenchResult, benchTraining, matmulPeak } from "./lib/bench/bench.ts";
export { forwardGflopPerImage, trainGflopPerImage } from "./lib/bench/flops.ts";
export { benchPytorch, blasPeak, TORCH_SCRIPT, type TorchResult } from "./lib/bench/pytorch.ts";

// Node backends and OpenBLAS.
export {
  bindingPath,
  initNodeBackend,
  NODE_PACKAGES,
  type NodeBackend,
  nodePackageDir,
} from "./lib/backend/node_backend.ts";
export {
  missingLibraries,
  missingLibtensorflowFiles,
  setupNodeBackend,
  type SetupReport,
} from "./lib/backend/node_setup.ts";
export { openBlas, OPENBLAS_NAMES, useBlasMatMul } from "./lib/backend/blas.ts";
export { registerWebgpu, type WebgpuAdapter } from "./lib/backend/webgpu.ts";

// Datasets beyond MNIST, downloads and augmentation.
export {
  CIFAR10_CLASSES,
  cifarDir,
  cifarFiles,
  type CifarName,
  type CifarOptions,
  loadCifar10,
  loadCifar100,
} from "./lib/data/cifar.ts";
export {
  FASHION_MNIST_CLASSES,
  type FashionMnistOptions,
  loadFashionMnist,
  loadFashionMnistIdx,
  prepareFashionMnist,
} from "./lib/data/fashion_mnist.ts";
export { type FolderListing, type ImageFolderOptions, loadImageFolder, scanImageFolder } from "./lib/data/folder.ts";
export { idxDatasetFiles, loadIdxDataset, loadIdxSplit } from "./lib/data/idx_dataset.ts";
export { downloadDataset, type DownloadOptions, DOWNLOADS } from "./lib/data/download.ts";
export { cacheDir } from "./lib/data/cache.ts";
export { channelStats } from "./lib/data/stats.ts";
export { normalizedPixels } from "./lib/data/batch.ts";
export {
  AUGMENT_DEFAULTS,
  augmentBatch,
  augmentEnabled,
  type AugmentOptions,
  cutmix,
  mixup,
  resolveAugmentOptions,
} from "./lib/data/augment.ts";

// Resume, state, EMA, memory, errors of a run.
export { resumeExperiment, type ResumeOptions } from "./lib/runs/experiment.ts";
export { RESUMABLE_KEYS, trajectoryHash } from "./lib/runs/resume_rules.ts";
export { loadState, saveState, type TrainingState } from "./lib/runs/state.ts";
export { ModelEma } from "./lib/train/ema.ts";
export { softCrossEntropy } from "./lib/train/loss.ts";
export { checkTrainingMemory, estimateTrainingMemory, type MemoryEstimate } from "./lib/config/estimate.ts";
export { DivergedError, InterruptedError } from "./lib/errors.ts";
export { type EpochOutcome, type EpochProgress, type TrainEpochOptions } from "./lib/train/trainer.ts";
