/** LayerNorm over the last axis, eps 1e-6 as timm's ViT (tfjs-layers defaults to 1e-3). */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import type { ParamStore } from "./params.ts";

/** Normalises the last axis, then scales and shifts. */
export class LayerNorm {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly eps: number;

  /**
   * @param store where the parameters live
   * @param rng the `init` stream (unused by ones/zeros, kept for a uniform constructor)
   * @param name timm's module name, e.g. `blocks.0.norm1`
   * @param dim width of the last axis
   * @param eps variance epsilon
   */
  constructor(store: ParamStore, rng: Rng, name: string, dim: number, eps = 1e-6) {
    this.weight = store.add({
      name: `${name}.weight`,
      timmShape: [dim],
      layout: "same",
      init: { kind: "ones" },
      decay: false,
    }, rng);
    this.bias = store.add({
      name: `${name}.bias`,
      timmShape: [dim],
      layout: "same",
      init: { kind: "zeros" },
      decay: false,
    }, rng);
    this.eps = eps;
  }

  /**
   * @param x [..., dim]
   * @returns same shape
   */
  apply<T extends tf.Tensor>(x: T): T {
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(normed, this.weight), this.bias) as T;
  }
}
