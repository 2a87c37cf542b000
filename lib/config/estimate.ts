/**
 * A rough estimate of the memory training needs, to refuse absurd sizes before allocating.
 * A lower bound of sorts: weights, gradients, two Adam moments, and the activations the
 * backward pass keeps.
 */
import type { Config } from "./schema.ts";

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
 */
export function estimateTrainingMemory(config: Config): MemoryEstimate {
  const m = config.model;
  const d = m.d_model;
  const c = config.data.channels ?? 1;
  const n = (config.data.image_size! / m.patch_size) ** 2;
  const t = n + 1;
  const h = Math.round(d * m.mlp_ratio);
  const k = config.data.num_classes ?? 10;
  const block = 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * h * d + h + d;
  const params = d * c * m.patch_size ** 2 + d + d + t * d + m.depth * block + 2 * d + k * d + k;
  // Weights, gradients and two moments: four float32 copies.
  const paramBytes = 16 * params;
  // Per block and example: token-sized tensors (norms, qkv, split heads, projections, MLP
  // hidden and GELU) and three [heads, T, T] attention maps.
  const perBlock = t * d * (14 + 3 * m.mlp_ratio) + 3 * m.heads * t * t;
  const activationBytes = 4 * config.train.batch_size * m.depth * perBlock;
  return { params, paramBytes, activationBytes, bytes: paramBytes + activationBytes };
}
