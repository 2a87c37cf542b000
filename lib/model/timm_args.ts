/** The keyword arguments with which timm's `VisionTransformer` has exactly vitlab's layout. */
import type { Config } from "../config/schema.ts";

/** `timm.models.VisionTransformer(**args)` builds a model whose `state_dict` is a vitlab checkpoint's. */
export interface TimmArgs {
  /** `data.image_size`: side of the square input in pixels. */
  img_size: number;
  /** `model.patch_size`. */
  patch_size: number;
  /** `data.channels`. */
  in_chans: number;
  /** `data.num_classes`: the head's width. */
  num_classes: number;
  /** `token` for `model.pool: cls`; `avg` for `mean`, which also gives timm its `fc_norm` instead of `norm`. */
  global_pool: "token" | "avg";
  /** `model.d_model`. */
  embed_dim: number;
  /** `model.depth`. */
  depth: number;
  /** `model.heads`. */
  num_heads: number;
  /** `model.mlp_ratio`, nudged where needed so that timm's int(embed_dim · mlp_ratio) is vitlab's hidden width. */
  mlp_ratio: number;
  /** `model.qkv_bias`. */
  qkv_bias: boolean;
}

/**
 * The timm arguments for a resolved config (dataset fields filled in).
 * @param config a resolved config
 * @returns arguments for `timm.models.VisionTransformer`, or `timm.create_model("vit_tiny_patch16_224", **args)`
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * const args = timmArgs(configFromObject({ model: { pool: "mean", qkv_bias: false } }));
 * if (args.global_pool !== "avg" || args.qkv_bias !== false || args.in_chans !== 1) throw new Error("wrong");
 * ```
 */
export function timmArgs(config: Config): TimmArgs {
  const m = config.model;
  const hidden = Math.round(m.d_model * m.mlp_ratio);
  return {
    img_size: config.data.image_size,
    patch_size: m.patch_size,
    in_chans: config.data.channels,
    num_classes: config.data.num_classes,
    global_pool: m.pool === "mean" ? "avg" : "token",
    embed_dim: m.d_model,
    depth: m.depth,
    num_heads: m.heads,
    // timm's hidden width is int(embed_dim * mlp_ratio), vitlab's the rounded product: where the
    // two differ, give timm a ratio whose product floors to vitlab's width.
    mlp_ratio: Math.floor(m.d_model * m.mlp_ratio) === hidden ? m.mlp_ratio : (hidden + 0.5) / m.d_model,
    qkv_bias: m.qkv_bias,
  };
}
