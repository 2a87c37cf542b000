/** A pre-norm transformer block, as timm's Block. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import { Attention } from "./attention.ts";
import type { ForwardContext } from "./context.ts";
import { dropPath } from "./dropout.ts";
import { LayerNorm } from "./layer_norm.ts";
import { Mlp } from "./mlp.ts";
import type { ParamStore } from "./params.ts";

/** Options of one {@linkcode Block}. */
export interface BlockOptions {
  /** Attention heads; the token width must divide by it. */
  heads: number;
  /** MLP hidden width over the token width. */
  mlpRatio: number;
  /** Whether the fused qkv projection has a bias. */
  qkvBias: boolean;
  /** Dropout rate after the attention projection and in the MLP. */
  drop: number;
  /** Dropout rate on the attention weights. */
  attnDrop: number;
  /** This block's drop-path (stochastic depth) rate. */
  dropPath: number;
}

/** x + attn(norm1(x)), then x + mlp(norm2(x)), each branch under drop-path. */
export class Block {
  /** `norm1`: before attention. */
  readonly norm1: LayerNorm;
  /** `attn`: multi-head self-attention. */
  readonly attn: Attention;
  /** `norm2`: before the MLP. */
  readonly norm2: LayerNorm;
  /** `mlp`: the feed-forward branch. */
  readonly mlp: Mlp;
  /** Probability of dropping each residual branch per image while training. */
  readonly dropPathRate: number;

  /**
   * Declares the `blocks.{index}.*` parameters.
   * @param store where the parameters live
   * @param rng the `init` stream
   * @param index block number, for names `blocks.{i}.*`
   * @param dim token width
   * @param o block options
   */
  constructor(store: ParamStore, rng: Rng, index: number, dim: number, o: BlockOptions) {
    const name = `blocks.${index}`;
    this.norm1 = new LayerNorm(store, rng, `${name}.norm1`, dim);
    this.attn = new Attention(store, rng, `${name}.attn`, dim, {
      heads: o.heads,
      qkvBias: o.qkvBias,
      attnDrop: o.attnDrop,
      projDrop: o.drop,
    });
    this.norm2 = new LayerNorm(store, rng, `${name}.norm2`, dim);
    this.mlp = new Mlp(store, rng, `${name}.mlp`, dim, Math.round(dim * o.mlpRatio), o.drop);
    this.dropPathRate = o.dropPath;
  }

  /**
   * Both residual branches.
   * @param x [B, T, D]
   * @param ctx forward context
   * @returns [B, T, D]
   */
  apply(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [b, t, d] = x.shape;
    x = tf.add(x, dropPath(this.attn.apply(this.norm1.apply(x), ctx), this.dropPathRate, ctx));
    const m = this.mlp.apply(tf.reshape(this.norm2.apply(x), [b * t, d]) as tf.Tensor2D, ctx); // [B·T, D]
    return tf.add(x, dropPath(tf.reshape(m, [b, t, d]), this.dropPathRate, ctx)); // [B, T, D]
  }
}
