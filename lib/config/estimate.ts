/**
 * A rough estimate of the memory training needs, to refuse absurd sizes before allocating.
 * A lower bound of sorts: weights, gradients, two Adam moments, and the activations the
 * backward pass keeps. The parameter count comes from lib/config/size.ts.
 */
import { ConfigError } from "../errors.ts";
import type { Config } from "./schema.ts";
import { vitParamCount, vitSizeFromConfig, vitTokens } from "./size.ts";

/** The estimate's parts. */
export interface MemoryEstimate {
  params: number;
  paramBytes: number;
  activationBytes: number;
  bytes: number;
}

/**
 * @param config a resolved config (dataset defaults filled)
 * @returns parameters and estimated bytes
 * @throws {ConfigError} when the config's dataset defaults are not filled in
 * @example
 * ```ts
 * import { estimateTrainingMemory } from "./estimate.ts";
 * import { configFromObject } from "./load.ts";
 * const est = estimateTrainingMemory(configFromObject({ data: { dataset: "mnist" } }, []));
 * if (est.bytes !== est.paramBytes + est.activationBytes || est.paramBytes !== 16 * est.params) {
 *   throw new Error(JSON.stringify(est));
 * }
 * ```
 */
export function estimateTrainingMemory(config: Config): MemoryEstimate {
  const m = config.model;
  const size = vitSizeFromConfig(config);
  const t = vitTokens(size);
  const params = vitParamCount(size);
  // Weights, gradients and two moments: four float32 copies.
  const paramBytes = 16 * params;
  // Per block and example: token-sized tensors (norms, qkv, split heads, projections, MLP
  // hidden, GELU and its saved Φ) and three [heads, T, T] attention maps.
  const perBlock = t * m.d_model * (14 + 4 * m.mlp_ratio) + 3 * m.heads * t * t;
  // Micro-batches run one after another: only one holds activations at a time.
  const batch = config.train.micro_batch > 0
    ? Math.min(config.train.micro_batch, config.train.batch_size)
    : config.train.batch_size;
  const activationBytes = 4 * batch * m.depth * perBlock;
  return { params, paramBytes, activationBytes, bytes: paramBytes + activationBytes };
}

/**
 * tfjs's wasm heap stops at 4 GiB, and a step holds about 3× what the estimate counts (tfjs
 * keeps more intermediates, and the heap grows in large chunks): measured aborts at estimates
 * of 1.4 and 2.1 GiB, none at 0.1. Past this estimate, the run would abort mid-step.
 */
const _WASM_HEAP_LIMIT = 1.3 * 2 ** 30;

/**
 * Refuses a model and batch that would not fit before anything is allocated.
 * @param config a resolved config
 * @param backend the backend it will train on (wasm and blas share the wasm heap's limit)
 * @throws {ConfigError} naming the estimate, the limit and what to shrink
 * @example
 * ```ts
 * import { checkTrainingMemory } from "./estimate.ts";
 * import { configFromObject } from "./load.ts";
 * checkTrainingMemory(configFromObject({ data: { dataset: "mnist" } }, []), "wasm"); // vit-small fits
 * ```
 */
export function checkTrainingMemory(config: Config, backend: string): void {
  const est = estimateTrainingMemory(config);
  const { limit, where } = _memoryLimit(backend);
  if (est.bytes > limit) {
    throw new ConfigError(
      `model and batch need an estimated ${_gib(est.bytes)} GiB to train (${
        est.params.toLocaleString("en-US")
      } parameters, ` +
        `${
          _gib(est.activationBytes)
        } GiB of activations at train.batch_size ${config.train.batch_size}), more than ${where} ${
          _gib(limit)
        } GiB; shrink model.d_model, model.depth or train.batch_size, or set train.micro_batch`,
    );
  }
}

/**
 * An evaluation's memory: the weights once and one forward pass's activations, which a
 * batch's tidy scope keeps until the batch is done.
 * @param config a resolved config
 * @param batch examples per forward pass
 * @returns the estimate, with the same parts as training's
 * @example
 * ```ts
 * import { configFromObject } from "./load.ts";
 * import { estimateEvalMemory, estimateTrainingMemory } from "./estimate.ts";
 * const c = configFromObject({});
 * if (estimateEvalMemory(c, 128).bytes >= estimateTrainingMemory(c).bytes) throw new Error("eval costs less");
 * ```
 */
export function estimateEvalMemory(config: Config, batch: number): MemoryEstimate {
  const train = estimateTrainingMemory({ ...config, train: { ...config.train, batch_size: batch, micro_batch: 0 } });
  const paramBytes = 4 * train.params;
  return {
    params: train.params,
    paramBytes,
    activationBytes: train.activationBytes,
    bytes: paramBytes + train.activationBytes,
  };
}

/**
 * Refuses an evaluation batch that cannot fit, before any work (the wasm backend otherwise
 * aborts with "memory access out of bounds" mid-run).
 * @param config a resolved config
 * @param batch examples per forward pass
 * @param backend the backend that will run it
 * @param key what set the batch, for the message (`train.eval_batch_size` or `--batch-size`)
 * @throws {ConfigError} when the estimate exceeds the backend's memory
 */
export function checkEvalMemory(config: Config, batch: number, backend: string, key: string): void {
  const est = estimateEvalMemory(config, batch);
  const { limit, where } = _memoryLimit(backend);
  if (est.bytes > limit) {
    throw new ConfigError(
      `${key} ${batch} needs an estimated ${_gib(est.bytes)} GiB to evaluate, more than ${where} ${
        _gib(limit)
      } GiB; a smaller ${key} gives the same results`,
    );
  }
}

function _memoryLimit(backend: string): { limit: number; where: string } {
  const system = Deno.systemMemoryInfo().total;
  const wasm = backend === "wasm" || backend === "blas";
  return wasm
    ? { limit: Math.min(system, _WASM_HEAP_LIMIT), where: "what fits the wasm backend's 4 GiB heap," }
    : { limit: system, where: "this machine's" };
}

function _gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2);
}
