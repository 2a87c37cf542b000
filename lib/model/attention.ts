/** Multi-head self-attention with a fused qkv projection, as timm's Attention. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import { matMul2d } from "../backend/matmul.ts";
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  hasFusedKernel,
  SOFTMAX_GRAD_KERNEL,
} from "../backend/simd_kernels.ts";
import type { Rng } from "../random.ts";
import type { ForwardContext } from "./context.ts";
import { dropout } from "./dropout.ts";
import { Linear } from "./linear.ts";
import type { ParamStore } from "./params.ts";

/** softmax(q·kᵀ · head_dim^-0.5) · v over `heads` heads, then a projection. */
export class Attention {
  /** `qkv`: the fused projection, [D] → [3D]: q, then k, then v, each head-major. */
  readonly qkv: Linear;
  /** `proj`: the output projection, [D] → [D]. */
  readonly proj: Linear;
  /** Number of heads H. */
  readonly heads: number;
  /** Width of one head, D / H. */
  readonly headDim: number;
  /** headDim^-0.5, folded into q before the product. */
  readonly scale: number;
  /** Dropout rate on the attention weights. */
  readonly attnDrop: number;
  /** Dropout rate after the output projection. */
  readonly projDrop: number;

  /**
   * Declares the `{name}.qkv` and `{name}.proj` parameters.
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
   * Self-attention over the tokens of each image.
   * @param x [B, T, D]
   * @param ctx forward context
   * @returns [B, T, D]
   */
  apply(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const h = this.heads;
    const hd = this.headDim;
    const x2 = tf.reshape(x, [b * t, d]) as tf.Tensor2D; // [B·T, D]
    // Attention dropout needs the probabilities as a tensor between softmax and values.
    if (hasFusedKernel(ATTENTION_KERNEL) && (this.attnDrop === 0 || !ctx.training)) {
      const merged = this.#fused(this.qkv.apply(x2), b, ctx); // [B·T, D]
      const y = this.proj.apply(merged); // [B·T, D]
      return dropout(tf.reshape(y, [b, t, d]), this.projDrop, ctx) as tf.Tensor3D; // [B, T, D]
    }
    // Split the small fused weight, not the large activation: one [D, 3D] split per step instead
    // of a SplitV over [B, 3H, T, hd] (5 ms per block on wasm); same products, same parameter.
    const [wq, wk, wv] = tf.split(this.qkv.weight, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D]; // each [D, D]
    const [bq, bk, bv] = this.qkv.bias ? tf.split(this.qkv.bias, 3) : [null, null, null]; // each [D]
    const heads = (w: tf.Tensor2D, bias: tf.Tensor | null, scale = 1): tf.Tensor3D => {
      let y: tf.Tensor = matMul2d(x2, w); // [B·T, D]
      if (bias) y = tf.add(y, bias);
      if (scale !== 1) y = tf.mul(y, scale);
      const split = tf.reshape(y, [b, t, h, hd]); // [B, T, H, hd]
      return tf.reshape(tf.transpose(split, [0, 2, 1, 3]), [b * h, t, hd]) as tf.Tensor3D; // [B·H, T, hd]
    };
    const q3 = heads(wq, bq ?? null, this.scale);
    const k3 = heads(wk, bk ?? null);
    const v3 = heads(wv, bv ?? null);
    const scores = tf.matMul(q3, k3, false, true); // [B·H, T, T]
    const probs = softmaxLastAxis(scores); // [B·H, T, T]
    if (ctx.attention) ctx.attention.push(tf.keep(tf.reshape(probs, [b, h, t, t]))); // [B, H, T, T]
    const attn = dropout(probs, this.attnDrop, ctx) as tf.Tensor3D;
    const out = tf.matMul(attn, v3); // [B·H, T, hd]
    const merged = tf.transpose(tf.reshape(out, [b, h, t, hd]), [0, 2, 1, 3]); // [B, T, H, hd]
    const y = this.proj.apply(tf.reshape(merged, [b * t, d]) as tf.Tensor2D); // [B·T, D]
    return dropout(tf.reshape(y, [b, t, d]), this.projDrop, ctx) as tf.Tensor3D; // [B, T, D]
  }

  /**
   * The same maths as the tfjs ops above in one fused kernel each way (wasm and blas): q, k and
   * v are read in place from the qkv projection, so none of the 8 head transposes, the weight
   * split or the 4 batched products of each direction remain.
   * @param qkv [B·T, 3D], q then k then v, each head-major
   * @param b images
   * @param ctx forward context (its `attention`, when given, receives the probabilities)
   * @returns [B·T, D], the heads merged
   */
  #fused(qkv: tf.Tensor2D, b: number, ctx: ForwardContext): tf.Tensor2D {
    const attrs = { batch: b, heads: this.heads, scale: this.scale };
    const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
      const [out, p] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv: input }, attrs) as [tf.Tensor2D, tf.Tensor4D]; // [B·T, D], [B, H, T, T]
      if (ctx.attention) ctx.attention.push(tf.keep(tf.clone(p)));
      save([p, input]);
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dout: dy, p: saved[0]!, qkv: saved[1]! }, attrs) as tf.Tensor,
      };
    });
    return fn(qkv) as tf.Tensor2D;
  }
}

/**
 * Softmax over the last axis. On wasm and blas its backward pass is one fused kernel,
 * dx = y·(dy − Σ dy·y), instead of tfjs's four (the forward is tfjs's own Softmax kernel).
 * @param x [..., N]
 * @returns same shape
 */
export function softmaxLastAxis<T extends tf.Tensor>(x: T): T {
  return (hasFusedKernel(SOFTMAX_GRAD_KERNEL) ? _softmaxFused(x) : tf.softmax(x, -1)) as T;
}

const _softmaxFused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const y = tf.softmax(x, -1);
  save([y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(SOFTMAX_GRAD_KERNEL, { y: saved[0]!, dy }) as tf.Tensor,
  };
});
