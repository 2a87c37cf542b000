/** A fully connected layer (timm/torch nn.Linear) held as [in, out]. */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import { matMul2d, matMul2dGrads } from "../backend/matmul.ts";
import { hasFusedKernel, LINEAR_KERNEL } from "../backend/simd_kernels.ts";
import type { Rng } from "../random.ts";
import type { Init } from "./init.ts";
import type { ParamStore } from "./params.ts";

/** `y = x · W + b`, with W as [in, out]. */
export class Linear {
  /** `{name}.weight`, held as [in, out] (timm's transpose). */
  readonly weight: tf.Variable;
  /** `{name}.bias`, [out]; null when declared without one. */
  readonly bias: tf.Variable | null;

  /**
   * Declares `{name}.weight` and, unless `bias: false`, `{name}.bias`.
   * @param store where the parameters live
   * @param rng the `init` stream
   * @param name timm's module name, e.g. `blocks.0.mlp.fc1`
   * @param inFeatures input width
   * @param outFeatures output width
   * @param options bias on/off, initialisers (timm: trunc_normal(.02) weights, zero bias), and the
   *   weight's shape in timm when it is not [out, in] (the patch embedding's conv [D, C, P, P])
   */
  constructor(
    store: ParamStore,
    rng: Rng,
    name: string,
    inFeatures: number,
    outFeatures: number,
    options: { bias?: boolean; weightInit?: Init; biasInit?: Init; timmShape?: number[] } = {},
  ) {
    this.weight = store.add({
      name: `${name}.weight`,
      timmShape: options.timmShape ?? [outFeatures, inFeatures],
      layout: "linear",
      init: options.weightInit ?? { kind: "trunc_normal", std: 0.02 },
      decay: true,
    }, rng);
    this.bias = options.bias === false ? null : store.add({
      name: `${name}.bias`,
      timmShape: [outFeatures],
      layout: "same",
      init: options.biasInit ?? { kind: "zeros" },
      decay: false,
    }, rng);
  }

  /**
   * `x · W + b`.
   * @param x [M, in]
   * @returns [M, out]
   */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (this.bias && hasFusedKernel(LINEAR_KERNEL)) {
      return tf.engine().runKernel(LINEAR_KERNEL, { x, w: this.weight, bias: this.bias }) as tf.Tensor2D; // [M, N]
    }
    const y = matMul2d(x, this.weight as tf.Tensor2D);
    return this.bias ? tf.add(y, this.bias) : y;
  }
}

// The fused layer's gradient: the product's, as matMul2d gives it, and the bias's as the
// broadcasting Add's (a Sum over the rows), each computed only where the tape needs it (the
// patch embedding's input needs none).
tf.registerGradient({
  kernelName: LINEAR_KERNEL,
  inputsToSave: ["x", "w"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = matMul2dGrads(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D);
    return { x: g.a, w: g.b, bias: () => tf.sum(dy as tf.Tensor, 0) };
  },
});
