/** A pre-norm transformer block, as timm's Block. */
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
  heads: number;
  mlpRatio: number;
  qkvBias: boolean;
  drop: number;
  attnDrop: number;
  dropPath: number;
}

/** x + attn(norm1(x)), then x + mlp(norm2(x)), each branch under drop-path. */
export class Block {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly dropPathRate: number;

  /**
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
