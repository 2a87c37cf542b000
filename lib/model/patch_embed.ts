/**
 * Patch embedding: timm's PatchEmbed (a P×P conv with stride P) computed as reshape + matMul.
 *
 * Same maths as the conv, but the wasm backend has no kernel for conv2d's filter gradient, and
 * a matMul stays on its fast path. The weight is saved in timm's conv layout [D, C, P, P].
 */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import { Linear } from "./linear.ts";
import type { ParamStore } from "./params.ts";

/** Splits an image into patches and projects each to d_model. */
export class PatchEmbed {
  /** `patch_embed.proj`: [C·P·P] → [D], saved as timm's conv weight [D, C, P, P]. */
  readonly proj: Linear;
  /** Side P of a patch in pixels. */
  readonly patchSize: number;
  /** Patches along each side of the image: imageSize / P. */
  readonly gridSize: number;
  /** Patches per image N: gridSize². */
  readonly numPatches: number;
  /** Input channels C. */
  readonly channels: number;

  /**
   * Declares the `patch_embed.proj` parameters, initialised as torch's Conv2d.
   * @param store where the parameters live
   * @param rng the `init` stream
   * @param imageSize image side in pixels
   * @param patchSize patch side in pixels
   * @param channels input channels
   * @param dModel output width
   */
  constructor(store: ParamStore, rng: Rng, imageSize: number, patchSize: number, channels: number, dModel: number) {
    this.patchSize = patchSize;
    this.gridSize = imageSize / patchSize;
    this.numPatches = this.gridSize * this.gridSize;
    this.channels = channels;
    const fanIn = channels * patchSize * patchSize;
    // torch's Conv2d default init (kaiming_uniform with a=√5 is U(±1/√fan_in)); timm keeps it.
    const bound = 1 / Math.sqrt(fanIn);
    this.proj = new Linear(store, rng, "patch_embed.proj", fanIn, dModel, {
      weightInit: { kind: "uniform", bound },
      biasInit: { kind: "uniform", bound },
      // timm's conv weight [D, C, P, P], held as the matrix [C·P·P, D].
      timmShape: [dModel, channels, patchSize, patchSize],
    });
  }

  /**
   * Cuts each image into P×P patches and projects each to a token.
   * @param x [B, H, W, C] normalised images
   * @returns [B, N, D] patch tokens, row-major over the patch grid as timm's flatten(2)
   */
  apply(x: tf.Tensor4D): tf.Tensor3D {
    const [b, h, w, c] = x.shape;
    const p = this.patchSize;
    if (h !== w || h !== this.gridSize * p) {
      throw new RangeError(`Input size (${h}×${w}) doesn't match model (${this.gridSize * p}×${this.gridSize * p})`);
    }
    if (c !== this.channels) throw new RangeError(`Input channels (${c}) don't match model (${this.channels})`);
    const g = this.gridSize;
    const grid = tf.reshape(x, [b, g, p, g, p, c]); // [B, gh, P, gw, P, C]
    // Flatten each patch as (C, Py, Px) so the weight reads as timm's conv [D, C, P, P].
    const patches = tf.transpose(grid, [0, 1, 3, 5, 2, 4]); // [B, gh, gw, C, P, P]
    const flat = tf.reshape(patches, [b * g * g, c * p * p]) as tf.Tensor2D; // [B·N, C·P·P]
    return tf.reshape(this.proj.apply(flat), [b, g * g, -1]) as tf.Tensor3D; // [B, N, D]
  }
}
