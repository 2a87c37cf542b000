/**
 * The size of a ViT, counted from its architecture alone: parameters and forward FLOPs. The
 * one place these formulas live; `bench` (lib/bench/flops.ts), the memory check
 * (lib/config/estimate.ts) and the sweep estimate (experiments/estimate.ts) call it.
 *
 * Parameters, as timm's VisionTransformer declares them (tests/size_test.ts checks this
 * against the built model), with N = (image_size / patch_size)² patches, T = N + 1 tokens,
 * D = d_model, H = round(D · mlp_ratio), C channels, K classes:
 *   patch_embed.proj            C·P²·D + D     (a conv of stride P: a matmul with bias)
 *   cls_token, pos_embed        D + T·D
 *   per block  norm1, norm2     2 · 2D
 *              attn.qkv         3D² (+ 3D with model.qkv_bias)
 *              attn.proj        D² + D
 *              mlp.fc1, fc2     D·H + H + H·D + D
 *   norm (cls) or fc_norm (mean) 2D
 *   head                        D·K + K
 *
 * Forward FLOPs per image, counting a multiply-add as 2 FLOP and only matrix products (norms,
 * softmax, GELU and adds are a few percent at these sizes and are left out):
 *   patch embedding   2 · N · (C·P²) · D
 *   per block         2 · T · D · 3D        (qkv)
 *                   + 2 · T · T · D · 2     (q·kᵀ and attn·v over all heads)
 *                   + 2 · T · D · D         (proj)
 *                   + 2 · T · D · H · 2     (fc1 and fc2)
 *   head              2 · D · K
 * A training step costs 3× the forward pass (the backward pass computes two products per
 * forward product).
 *
 * Imports no tfjs and nothing outside lib/config but lib/errors.ts: config stays a leaf.
 */
import type { Config } from "./schema.ts";

/**
 * What the size depends on. lib/model/vit.ts's `VitShape` has these fields, so a model's
 * shape can be passed as it is.
 */
export interface VitSize {
  /** Side of the square input image in pixels (`data.image_size`). */
  imageSize: number;
  /** Input channels C (`data.channels`). */
  channels: number;
  /** Classes K, the head's width (`data.num_classes`). */
  numClasses: number;
  /** Side P of a square patch in pixels (`model.patch_size`). */
  patchSize: number;
  /** Token width D (`model.d_model`). */
  dModel: number;
  /** Transformer blocks (`model.depth`). */
  depth: number;
  /** MLP hidden width over D; the hidden width is round(D · mlp_ratio) (`model.mlp_ratio`). */
  mlpRatio: number;
  /** Whether the qkv projection has a bias (`model.qkv_bias`). */
  qkvBias: boolean;
}

/** Backward ≈ two products per forward product: a training step costs this many forward passes. */
export const TRAIN_FLOPS_PER_FORWARD = 3;

/**
 * The fields of a config that a model's size depends on.
 * @param config a resolved config (dataset defaults filled: `data.image_size`, `data.channels`
 *   and `data.num_classes` set)
 * @returns the architecture's size-relevant fields
 * @example
 * ```ts
 * import { configFromObject } from "./load.ts";
 * import { vitSizeFromConfig } from "./size.ts";
 * const size = vitSizeFromConfig(configFromObject({ model: { d_model: 32 }, data: { dataset: "mnist" } }, []));
 * if (size.imageSize !== 28 || size.dModel !== 32) throw new Error(JSON.stringify(size));
 * ```
 */
export function vitSizeFromConfig(config: Config): VitSize {
  const m = config.model;
  const d = config.data;
  return {
    imageSize: d.image_size,
    channels: d.channels,
    numClasses: d.num_classes,
    patchSize: m.patch_size,
    dModel: m.d_model,
    depth: m.depth,
    mlpRatio: m.mlp_ratio,
    qkvBias: m.qkv_bias,
  };
}

/**
 * @param s the architecture
 * @returns tokens per image: the patches and the class token
 * @example
 * ```ts
 * import { vitTokens } from "./size.ts";
 * const s = { imageSize: 28, channels: 1, numClasses: 10, patchSize: 7, dModel: 64, depth: 6, mlpRatio: 2, qkvBias: true };
 * if (vitTokens(s) !== 17) throw new Error("16 patches and the class token");
 * ```
 */
export function vitTokens(s: VitSize): number {
  return (s.imageSize / s.patchSize) ** 2 + 1;
}

/**
 * @param s the architecture
 * @returns the MLP's hidden width, as timm rounds it
 * @example
 * ```ts
 * import { vitMlpHidden } from "./size.ts";
 * const s = { imageSize: 8, channels: 1, numClasses: 3, patchSize: 4, dModel: 16, depth: 1, mlpRatio: 3.3, qkvBias: true };
 * if (vitMlpHidden(s) !== 53) throw new Error("round(16 · 3.3) = 53");
 * ```
 */
export function vitMlpHidden(s: VitSize): number {
  return Math.round(s.dModel * s.mlpRatio);
}

/**
 * The number of scalar parameters, equal to the built model's `paramCount()` (the pooling
 * does not change it: `norm` and `fc_norm` are the same size).
 * @param s the architecture
 * @returns the parameter count
 * @example
 * ```ts
 * import { vitParamCount } from "./size.ts";
 * const s = { imageSize: 28, channels: 1, numClasses: 10, patchSize: 7, dModel: 64, depth: 6, mlpRatio: 2, qkvBias: true };
 * if (vitParamCount(s) !== 205_962) throw new Error(`vit-small has ${vitParamCount(s)} parameters`);
 * ```
 */
export function vitParamCount(s: VitSize): number {
  const d = s.dModel;
  const h = vitMlpHidden(s);
  const k = s.numClasses;
  const patchEmbed = s.channels * s.patchSize ** 2 * d + d;
  const tokens = d + vitTokens(s) * d; // cls_token, pos_embed
  const norm = 2 * d;
  const qkv = 3 * d * d + (s.qkvBias ? 3 * d : 0);
  const proj = d * d + d;
  const mlp = d * h + h + h * d + d;
  const block = norm + qkv + proj + norm + mlp;
  return patchEmbed + tokens + s.depth * block + norm + d * k + k;
}

/**
 * @param s the architecture
 * @returns FLOP of one forward pass on one image (2 per multiply-add, matrix products only)
 * @example
 * ```ts
 * import { vitForwardFlops } from "./size.ts";
 * const s = { imageSize: 8, channels: 1, numClasses: 3, patchSize: 4, dModel: 16, depth: 1, mlpRatio: 2, qkvBias: true };
 * if (vitForwardFlops(s) !== 24_224) throw new Error(`${vitForwardFlops(s)}`);
 * ```
 */
export function vitForwardFlops(s: VitSize): number {
  const n = (s.imageSize / s.patchSize) ** 2;
  const t = vitTokens(s);
  const d = s.dModel;
  const h = vitMlpHidden(s);
  const patch = 2 * n * s.channels * s.patchSize ** 2 * d;
  const block = 2 * t * d * 3 * d + 2 * t * t * d * 2 + 2 * t * d * d + 2 * t * d * h * 2;
  return patch + s.depth * block + 2 * d * s.numClasses;
}

/**
 * Training FLOPs per image, for throughput in FLOP/s: three forward passes, since the backward
 * pass computes two products per forward product.
 * @param s the architecture
 * @returns FLOP of one training step's forward and backward pass on one image
 * @example
 * ```ts
 * import { vitForwardFlops, vitTrainFlops } from "./size.ts";
 * const s = { imageSize: 8, channels: 1, numClasses: 3, patchSize: 4, dModel: 16, depth: 1, mlpRatio: 2, qkvBias: true };
 * if (vitTrainFlops(s) !== 3 * vitForwardFlops(s)) throw new Error("three forward passes");
 * ```
 */
export function vitTrainFlops(s: VitSize): number {
  return TRAIN_FLOPS_PER_FORWARD * vitForwardFlops(s);
}
