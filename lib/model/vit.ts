/**
 * The Vision Transformer, laid out as timm's VisionTransformer: patch embedding, class token,
 * learned position embedding, pre-norm blocks, final norm (or fc_norm for mean pooling), head.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Config } from "../config/schema.ts";
import { Rng } from "../random.ts";
import { Block } from "./block.ts";
import type { ForwardContext } from "./context.ts";
import { dropout } from "./dropout.ts";
import { LayerNorm } from "./layer_norm.ts";
import { Linear } from "./linear.ts";
import { ParamStore } from "./params.ts";
import { PatchEmbed } from "./patch_embed.ts";

/** The model's shape, as the config's `model` and `data` sections give it. */
export interface VitShape {
  imageSize: number;
  channels: number;
  numClasses: number;
  patchSize: number;
  dModel: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  qkvBias: boolean;
  dropout: number;
  attnDropout: number;
  dropPath: number;
  pool: "cls" | "mean";
}

/**
 * @param config a resolved config
 * @returns the model shape it declares
 */
export function vitShapeFromConfig(config: Config): VitShape {
  const m = config.model;
  return {
    imageSize: config.data.image_size,
    channels: config.data.channels,
    numClasses: config.data.num_classes,
    patchSize: m.patch_size,
    dModel: m.d_model,
    depth: m.depth,
    heads: m.heads,
    mlpRatio: m.mlp_ratio,
    qkvBias: m.qkv_bias,
    dropout: m.dropout,
    attnDropout: m.attn_dropout,
    dropPath: m.drop_path,
    pool: m.pool,
  };
}

/** A ViT whose parameters are tf.Variables under timm's names. */
export class VisionTransformer {
  readonly shape: VitShape;
  readonly params: ParamStore = new ParamStore();
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly blocks: Block[];
  /** `norm` for cls pooling, `fc_norm` for mean pooling (timm's use_fc_norm). */
  readonly norm: LayerNorm;
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
    for (const block of this.blocks) tokens = block.apply(tokens, ctx);
    return this.shape.pool === "cls" ? this.norm.apply(tokens) : tokens;
  }

  /**
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
   * @param pooled [B, D]
   * @param ctx forward context
   * @returns [B, K] logits
   */
  forwardHead(pooled: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return this.head.apply(dropout(pooled, this.shape.dropout, ctx) as tf.Tensor2D);
  }

  /**
   * @param x [B, H, W, C] normalised images
   * @param ctx forward context
   * @returns [B, K] logits
   */
  apply(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D {
    return this.forwardHead(this.pool(this.forwardFeatures(x, ctx)), ctx);
  }

  /** @returns number of scalar parameters */
  paramCount(): number {
    return this.params.count();
  }

  /** Frees the parameters. */
  dispose(): void {
    this.params.dispose();
  }
}
