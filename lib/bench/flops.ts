/**
 * Floating-point work of a ViT, counted from the architecture, in the GFLOP `bench` reports
 * (`achieved_gflops` = training GFLOP per image × images/s).
 *
 * The formula is {@linkcode vitForwardFlops} in lib/config/size.ts, the one source shared with
 * the memory check and the sweep estimate: per image, forward, a multiply-add counted as 2 FLOP
 * and only matrix products (patch embedding, qkv, q·kᵀ and attn·v, proj, MLP, head). A training
 * step costs 3× the forward pass (the backward pass computes two products per forward product).
 */
import { TRAIN_FLOPS_PER_FORWARD, vitForwardFlops, type VitSize } from "../config/size.ts";

/**
 * @param s the architecture (a model's `VitShape`, or any {@linkcode VitSize})
 * @returns forward GFLOP per image
 * @example
 * ```ts
 * import { forwardGflopPerImage } from "./flops.ts";
 * const s = { imageSize: 8, channels: 1, numClasses: 3, patchSize: 4, dModel: 16, depth: 1, mlpRatio: 2, qkvBias: true };
 * if (forwardGflopPerImage(s) !== 24_224 / 1e9) throw new Error(`${forwardGflopPerImage(s)}`);
 * ```
 */
export function forwardGflopPerImage(s: VitSize): number {
  return vitForwardFlops(s) / 1e9;
}

/**
 * @param s the architecture (a model's `VitShape`, or any {@linkcode VitSize})
 * @returns training GFLOP per image (forward + backward)
 * @example
 * ```ts
 * import { forwardGflopPerImage, trainGflopPerImage } from "./flops.ts";
 * const s = { imageSize: 8, channels: 1, numClasses: 3, patchSize: 4, dModel: 16, depth: 1, mlpRatio: 2, qkvBias: true };
 * if (trainGflopPerImage(s) !== 3 * forwardGflopPerImage(s)) throw new Error("three forward passes");
 * ```
 */
export function trainGflopPerImage(s: VitSize): number {
  return TRAIN_FLOPS_PER_FORWARD * forwardGflopPerImage(s);
}
