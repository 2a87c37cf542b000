/** What a forward pass needs besides its input. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";

/** Forward-pass state: training switches dropout and drop-path on; `rng` seeds their masks. */
export interface ForwardContext {
  /** True while training: dropout and drop-path are applied. */
  training: boolean;
  /** The `dropout` stream; required when training with any dropout or drop-path rate. */
  rng?: Rng;
  /**
   * When given, each block's attention pushes its probabilities here, [B, H, T, T] (after the
   * softmax, before attention dropout), first block first. They are kept out of any enclosing
   * `tf.tidy`: the caller disposes them. Left out, the forward pass is unchanged.
   */
  attention?: tf.Tensor4D[];
}

/** Evaluation: no dropout, no drop-path. */
export const EVAL: ForwardContext = { training: false };
