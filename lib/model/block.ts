/** A pre-norm transformer block, as timm's Block. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  BLOCK_GRAD_KERNEL,
  BLOCK_KERNEL,
  type BlockAttrs,
  type BlockParamName,
  fusedBlocksAvailable,
} from "../backend/block_kernels.ts";
import type { Rng } from "../random.ts";
import { Attention } from "./attention.ts";
import type { ForwardContext } from "./context.ts";
import { dropPath, dropPathScales } from "./dropout.ts";
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

  /**
   * Whether {@linkcode applyFused} can run this block now: on the blas backend, with no dropout
   * drawn inside the block and no attention probabilities asked for.
   * @param ctx forward context
   * @returns true where the fused block gives what {@linkcode applyStream} would
   */
  fusable(ctx: ForwardContext): boolean {
    const drops = ctx.training && (this.attn.attnDrop > 0 || this.attn.projDrop > 0 || this.mlp.drop > 0);
    return !drops && !ctx.attention && fusedBlocksAvailable();
  }

  /**
   * Both residual branches as one kernel each way ({@linkcode BLOCK_KERNEL}): the same bytes as
   * {@linkcode applyStream} followed by its pending add, with a fraction of the engine's work.
   * @param x [B, T, D] the residual stream, its adds done
   * @param ctx forward context; {@linkcode fusable} must hold
   * @returns [B, T, D]
   */
  applyFused(x: tf.Tensor3D, ctx: ForwardContext): tf.Tensor3D {
    const b = x.shape[0];
    // Drawn in applyStream's order (attention's branch, then the MLP's), as tf.dropout draws them.
    const dp1 = dropPathScales(b, this.dropPathRate, ctx);
    const dp2 = dropPathScales(b, this.dropPathRate, ctx);
    const attrs: BlockAttrs & { qkvBias: boolean } = {
      batch: b,
      heads: this.attn.heads,
      scale: this.attn.scale,
      eps1: this.norm1.eps,
      eps2: this.norm2.eps,
      dp1,
      dp2,
      qkvBias: this.attn.qkv.bias !== null,
    };
    const params: [BlockParamName, tf.Variable | null][] = [
      ["n1w", this.norm1.weight],
      ["n1b", this.norm1.bias],
      ["qkvw", this.attn.qkv.weight],
      ["qkvb", this.attn.qkv.bias],
      ["projw", this.attn.proj.weight],
      ["projb", this.attn.proj.bias],
      ["n2w", this.norm2.weight],
      ["n2b", this.norm2.bias],
      ["fc1w", this.mlp.fc1.weight],
      ["fc1b", this.mlp.fc1.bias],
      ["fc2w", this.mlp.fc2.weight],
      ["fc2b", this.mlp.fc2.bias],
    ];
    const held = params.filter((p): p is [BlockParamName, tf.Variable] => p[1] !== null);
    // The backward reads the weights from the variables: nothing updates them before the gradients are taken.
    const weights = Object.fromEntries(held.filter(([n]) => n.endsWith("w")));
    const kernelAttrs = attrs as unknown as tf.NamedAttrMap;
    const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const input = args[0] as tf.Tensor3D;
      const named = Object.fromEntries([["x", input], ...held.map(([n], i) => [n, args[i + 1] as tf.Tensor])]);
      const [y, ws] = tf.engine().runKernel(BLOCK_KERNEL, named, kernelAttrs) as tf.Tensor[]; // [B, T, D], [workspace]
      save([input, ws!]);
      return {
        value: y!,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.engine().runKernel(
            BLOCK_GRAD_KERNEL,
            { dy, x: saved[0]!, ws: saved[1]!, ...weights },
            kernelAttrs,
          ) as tf.Tensor[],
      };
    });
    return fn(x, ...held.map(([, v]) => v)) as tf.Tensor3D;
  }
}

/** The residual stream between blocks as x + branch, the add left to the LayerNorm that follows it. */
export interface ResidualStream {
  /** [B, T, D]: the stream up to its last add. */
  x: tf.Tensor3D;
  /** [B, T, D]: the last branch's output, still to be added to x; null when there is none. */
  branch: tf.Tensor3D | null;
}
