/** Multi-head self-attention with a fused qkv projection, as timm's Attention. */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import type { ForwardContext } from "./context.ts";
import { dropout } from "./dropout.ts";
import { Linear } from "./linear.ts";
import type { ParamStore } from "./params.ts";

/** softmax(q·kᵀ · head_dim^-0.5) · v over `heads` heads, then a projection. */
export class Attention {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly heads: number;
  readonly headDim: number;
  readonly scale: number;
  readonly attnDrop: number;
  readonly projDrop: number;

  /**
   * @param store where the parameters live
   * @param rng the `init` stream
   * @param name timm's module name, e.g. `blocks.0.attn`
   * @param dim token width
   * @param options heads, qkv bias, dropout rates
   */
  constructor(
    store: ParamStore,
    rng: Rng,
    name: string,
    dim: number,
    options: { heads: number; qkvBias: boolean; attnDrop: number; projDrop: number },
  ) {
    this.heads = options.heads;
    this.headDim = dim / options.heads;
    this.scale = this.headDim ** -0.5;
    this.attnDrop = options.attnDrop;
    this.projDrop = options.projDrop;
    // Rows of the [3D, D] weight are q, then k, then v, each head-major: timm's layout.
    this.qkv = new Linear(store, rng, `${name}.qkv`, dim, 3 * dim, { bias: options.qkvBias });
    this.proj = new Linear(store, rng, `${name}.proj`, dim, dim);
  }

  /**
   * @param x [B, T, D]
   * @param ctx forward context
   * @returns [B, T, D]
   */
  apply(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const h = this.heads;
    const hd = this.headDim;
    const qkv = this.qkv.apply(tf.reshape(x, [b * t, d]) as tf.Tensor2D); // [B·T, 3D]
    // Split q/k/v with 4-D reshapes and transposes: rank-5 transposes are slow on wasm.
    const heads = tf.reshape(qkv, [b, t, 3 * h, hd]); // [B, T, 3H, hd]
    const headsFirst = tf.transpose(heads, [0, 2, 1, 3]); // [B, 3H, T, hd]
    const [q, k, v] = tf.split(headsFirst, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]; // each [B, H, T, hd]
    const q3 = tf.reshape(tf.mul(q, this.scale), [b * h, t, hd]) as tf.Tensor3D; // [B·H, T, hd]
    const k3 = tf.reshape(k, [b * h, t, hd]) as tf.Tensor3D; // [B·H, T, hd]
    const v3 = tf.reshape(v, [b * h, t, hd]) as tf.Tensor3D; // [B·H, T, hd]
    const scores = tf.matMul(q3, k3, false, true); // [B·H, T, T]
    const attn = dropout(tf.softmax(scores, -1), this.attnDrop, ctx) as tf.Tensor3D;
    const out = tf.matMul(attn, v3); // [B·H, T, hd]
    const merged = tf.transpose(tf.reshape(out, [b, h, t, hd]), [0, 2, 1, 3]); // [B, T, H, hd]
    const y = this.proj.apply(tf.reshape(merged, [b * t, d]) as tf.Tensor2D); // [B·T, D]
    return dropout(tf.reshape(y, [b, t, d]), this.projDrop, ctx) as tf.Tensor3D; // [B, T, D]
  }
}
