/** The transformer MLP: fc1 → exact (erf) GELU → dropout → fc2 → dropout, as timm's Mlp. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import { GELU_GRAD_KERNEL, GELU_KERNEL, hasFusedKernel } from "../backend/simd_kernels.ts";
import type { Rng } from "../random.ts";
import type { ForwardContext } from "./context.ts";
import { dropout } from "./dropout.ts";
import { Linear } from "./linear.ts";
import type { ParamStore } from "./params.ts";

/**
 * Exact GELU, x·Φ(x) = x·(1 + erf(x/√2))/2, as torch's nn.GELU() default (not the tanh form).
 * @param x any tensor
 * @returns GELU(x)
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  // On wasm and blas, one fused kernel each way instead of 5 forward and ~10 backward.
  if (hasFusedKernel(GELU_KERNEL)) return _geluFused(x) as T;
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T;
}

const _geluFused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const [y, phi] = tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor[];
  // Φ(x) saved spares the backward its erf (the same values, so the same bytes).
  save([x, phi!]);
  phi!.dispose();
  return {
    value: y!,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.engine().runKernel(GELU_GRAD_KERNEL, { x: saved[0]!, phi: saved[1]!, dy }) as tf.Tensor,
  };
});

/** Two linear layers with a GELU between. */
export class Mlp {
  /** `fc1`: [D] → [hidden]. */
  readonly fc1: Linear;
  /** `fc2`: [hidden] → [D]. */
  readonly fc2: Linear;
  /** Dropout rate after the activation and after fc2. */
  readonly drop: number;

  /**
   * Declares the `{name}.fc1` and `{name}.fc2` parameters.
   * @param store where the parameters live
   * @param rng the `init` stream
   * @param name timm's module name, e.g. `blocks.0.mlp`
   * @param dim token width
   * @param hidden hidden width (mlp_ratio × dim)
   * @param drop dropout rate after the activation and after fc2
   */
  constructor(store: ParamStore, rng: Rng, name: string, dim: number, hidden: number, drop: number) {
    this.fc1 = new Linear(store, rng, `${name}.fc1`, dim, hidden);
    this.fc2 = new Linear(store, rng, `${name}.fc2`, hidden, dim);
    this.drop = drop;
  }

  /**
   * The feed-forward branch, token by token.
   * @param x [M, D] tokens flattened over batch and sequence
   * @param ctx forward context
   * @returns [M, D]
   */
  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    const hidden = dropout(gelu(this.fc1.apply(x)), this.drop, ctx) as tf.Tensor2D;
    return dropout(this.fc2.apply(hidden), this.drop, ctx) as tf.Tensor2D;
  }
}
