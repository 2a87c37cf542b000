/**
 * The Vision Transformer, laid out as timm's VisionTransformer: patch embedding, class token,
 * learned position embedding, pre-norm blocks, final norm (or fc_norm for mean pooling), head.
 */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Config } from "../config/schema.ts";
import { Rng } from "../random.ts";
import { Block, type ResidualStream } from "./block.ts";
import type { ForwardContext } from "./context.ts";
import { dropout } from "./dropout.ts";
import { LayerNorm } from "./layer_norm.ts";
import { Linear } from "./linear.ts";
import { ParamStore } from "./params.ts";
import { PatchEmbed } from "./patch_embed.ts";
import { type VitSize, vitSizeFromConfig } from "../config/size.ts";

/**
 * The model's shape, as the config's `model` and `data` sections give it: the sizes that decide
 * its parameter count and FLOPs (lib/config/size.ts) and the rest of the architecture.
 */
export interface VitShape extends VitSize {
  /** Attention heads; D must divide by it (`model.heads`). */
  heads: number;
  /** Dropout after the position embedding, in the MLP and after projections (`model.dropout`). */
  dropout: number;
  /** Dropout on the attention weights (`model.attn_dropout`). */
  attnDropout: number;
  /** Drop-path rate of the last block, rising linearly from 0 at the first (`model.drop_path`). */
  dropPath: number;
  /** Head input: the class token, or the fc_norm'd mean of the patch tokens (`model.pool`). */
  pool: "cls" | "mean";
}

/**
 * The model shape of a config, as {@linkcode VisionTransformer} takes it.
 * @param config a resolved config
 * @returns the model shape it declares
 * @example
 * ```ts
 * import { configFromObject } from "../config/load.ts";
 * import { vitShapeFromConfig } from "./vit.ts";
 * const shape = vitShapeFromConfig(configFromObject({ model: { d_model: 32, heads: 4, pool: "mean" } }));
 * if (shape.dModel !== 32 || shape.pool !== "mean" || shape.imageSize !== 28) throw new Error("wrong");
 * ```
 */
export function vitShapeFromConfig(config: Config): VitShape {
  const m = config.model;
  return {
    ...vitSizeFromConfig(config),
    heads: m.heads,
    dropout: m.dropout,
    attnDropout: m.attn_dropout,
    dropPath: m.drop_path,
    pool: m.pool,
  };
}

/** A ViT whose parameters are tf.Variables under timm's names. */
export class VisionTransformer {
  /** The architecture it was built with. */
  readonly shape: VitShape;
  /** Every parameter under its timm name: what checkpoints save and the optimizer updates. */
  readonly params: ParamStore = new ParamStore();
  /** `patch_embed`: images to patch tokens. */
  readonly patchEmbed: PatchEmbed;
  /** `cls_token`, [1, 1, D]: prepended to the patch tokens. */
  readonly clsToken: tf.Variable;
  /** `pos_embed`, [1, N+1, D]: learned, added to the class and patch tokens. */
  readonly posEmbed: tf.Variable;
  /** `blocks.{i}`: the transformer blocks, first to last. */
  readonly blocks: Block[];
  /** `norm` for cls pooling, `fc_norm` for mean pooling (timm's use_fc_norm). */
  readonly norm: LayerNorm;
  /** `head`: pooled tokens to class logits, [D] → [K]. */
  readonly head: Linear;

  /**
   * Builds and initialises the model. Parameters draw from the seed's `init` stream in
   * declaration order, so the same seed gives the same weights on every backend.
   * @param shape the architecture
   * @param seed the config's `train.seed`
   */
  constructor(shape: VitShape, seed: number) {
    this.shape = shape;
    const rng = Rng.fromSeed(seed, "init");
    const d = shape.dModel;
    this.patchEmbed = new PatchEmbed(this.params, rng, shape.imageSize, shape.patchSize, shape.channels, d);
    const tokens = this.patchEmbed.numPatches + 1;
    this.clsToken = this.params.add(
      { name: "cls_token", timmShape: [1, 1, d], layout: "same", init: { kind: "normal", std: 1e-6 }, decay: false },
      rng,
    );
    this.posEmbed = this.params.add(
      {
        name: "pos_embed",
        timmShape: [1, tokens, d],
        layout: "same",
        init: { kind: "trunc_normal", std: 0.02 },
        decay: false,
      },
      rng,
    );
    this.blocks = Array.from({ length: shape.depth }, (_, i) =>
      new Block(this.params, rng, i, d, {
        heads: shape.heads,
        mlpRatio: shape.mlpRatio,
        qkvBias: shape.qkvBias,
        drop: shape.dropout,
        attnDrop: shape.attnDropout,
        // timm: drop-path rate rises linearly from 0 at the first block to drop_path at the last.
        dropPath: shape.depth > 1 ? (shape.dropPath * i) / (shape.depth - 1) : shape.dropPath,
      }));
    this.norm = new LayerNorm(this.params, rng, shape.pool === "mean" ? "fc_norm" : "norm", d);
    this.head = new Linear(this.params, rng, "head", d, shape.numClasses);
  }

  /**
   * Tokens after the last block (and the final norm for cls pooling).
   * @param x [B, H, W, C] normalised images
   * @param ctx forward context
   * @returns [B, N+1, D]
   */
  forwardFeatures(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor3D {
    const patches = this.patchEmbed.apply(x); // [B, N, D]
    const b = patches.shape[0];
    // Broadcast by adding to zeros, not tf.tile: tile's gradient is one slice and one add per
    // image (256 kernels a step at batch 128); a broadcast add's is one sum over the batch.
    const cls = tf.add(tf.zeros([b, 1, this.shape.dModel]), this.clsToken); // [1, 1, D] → [B, 1, D]
    let tokens = tf.add(tf.concat([cls, patches], 1), this.posEmbed) as tf.Tensor3D; // [B, N+1, D]
    tokens = dropout(tokens, this.shape.dropout, ctx) as tf.Tensor3D;
    if (this.blocks.every((block) => block.fusable(ctx))) {
      // One kernel a block each way on blas: the same bytes as the stream below.
      for (const block of this.blocks) tokens = block.applyFused(tokens, ctx);
      return this.shape.pool === "cls" ? this.norm.apply(tokens) : tokens;
    }
    let stream: ResidualStream = { x: tokens, branch: null };
    for (const block of this.blocks) stream = block.applyStream(stream, ctx);
    if (!stream.branch) return this.shape.pool === "cls" ? this.norm.apply(stream.x) : stream.x;
    // The final norm takes the last add for cls pooling; mean pooling needs the stream itself.
    return this.shape.pool === "cls"
      ? this.norm.applyResidual(stream.x, stream.branch)[1]
      : tf.add(stream.x, stream.branch); // [B, N+1, D]
  }

  /**
   * Reduces the tokens to one vector per image, as `model.pool` says.
   * @param tokens [B, N+1, D]
   * @returns [B, D]: the class token, or the normalised mean of the patch tokens
   */
  pool(tokens: tf.Tensor3D): tf.Tensor2D {
    const [b, t, d] = tokens.shape;
    if (this.shape.pool === "cls") {
      return tf.reshape(tf.slice(tokens, [0, 0, 0], [b, 1, d]), [b, d]); // [B, D]
    }
    return this.norm.apply(tf.mean(tf.slice(tokens, [0, 1, 0], [b, t - 1, d]), 1)) as tf.Tensor2D; // [B, D]
  }

  /**
   * Dropout, then the classification head.
   * @param pooled [B, D]
   * @param ctx forward context
   * @returns [B, K] logits
   */
  forwardHead(pooled: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return this.head.apply(dropout(pooled, this.shape.dropout, ctx) as tf.Tensor2D);
  }

  /**
   * The whole forward pass: features, pooling, head. Call it inside `tf.tidy` (or dispose the
   * result) since it allocates tensors.
   * @param x [B, H, W, C] normalised images
   * @param ctx forward context
   * @returns [B, K] logits
   */
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.forwardHead(this.pool(this.forwardFeatures(x, ctx)), ctx);
  }

  /**
   * Counts the model's scalars.
   * @returns number of scalar parameters
   */
  paramCount(): number {
    return this.params.count();
  }

  /** Frees the parameters. */
  dispose(): void {
    this.params.dispose();
  }
}
