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
    const out = this.applyStream({ x, branch: null }, ctx);
    return tf.add(out.x, out.branch!); // [B, T, D]
  }

  /**
   * Both residual branches on a stream whose last add is still pending, and leaving this block's
   * last add pending: each add is done by the LayerNorm after it ({@linkcode LayerNorm.applyResidual}),
   * one fused kernel where the backend has it.
   * @param stream the residual stream before this block: x + branch
   * @param ctx forward context
   * @returns the stream after this block, its last branch not yet added
   */
  applyStream(stream: ResidualStream, ctx: ForwardContext): ResidualStream {
    const [b, t, d] = stream.x.shape;
    const [x, h] = stream.branch
      ? this.norm1.applyResidual(stream.x, stream.branch)
      : [stream.x, this.norm1.apply(stream.x)]; // [B, T, D] each
    const a = dropPath(this.attn.apply(h, ctx), this.dropPathRate, ctx); // [B, T, D]
    const [x1, h2] = this.norm2.applyResidual(x, a); // [B, T, D] each
    const m = this.mlp.apply(tf.reshape(h2, [b * t, d]) as tf.Tensor2D, ctx); // [B·T, D]
    return { x: x1, branch: dropPath(tf.reshape(m, [b, t, d]), this.dropPathRate, ctx) }; // [B, T, D] each
  }
}

/** The residual stream between blocks as x + branch, the add left to the LayerNorm that follows it. */
export interface ResidualStream {
  /** [B, T, D]: the stream up to its last add. */
  x: tf.Tensor3D;
  /** [B, T, D]: the last branch's output, still to be added to x; null when there is none. */
  branch: tf.Tensor3D | null;
}
