/**
 * Floating-point work of a ViT, counted from the architecture.
 *
 * Per image, forward, counting a multiply-add as 2 FLOP and only matrix products (norms,
 * softmax, GELU and adds are a few percent at these sizes and are left out):
 *   patch embedding   2 · N · (C·P²) · D
 *   per block         2 · T · D · 3D        (qkv)
 *                   + 2 · T · T · D · 2     (q·kᵀ and attn·v over all heads)
 *                   + 2 · T · D · D         (proj)
 *                   + 2 · T · D · H · 2     (fc1 and fc2, H = mlp_ratio · D)
 *   head              2 · D · K
 * with N patches, T = N + 1 tokens. A training step costs 3× the forward pass (the backward
 * pass computes two products per forward product).
 */
import type { VitShape } from "../model/vit.ts";

/**
 * @param s the architecture
 * @returns forward GFLOP per image
 */
export function forwardGflopPerImage(s: VitShape): number {
  const n = (s.imageSize / s.patchSize) ** 2;
  const t = n + 1;
  const d = s.dModel;
  const h = Math.round(d * s.mlpRatio);
  const patch = 2 * n * s.channels * s.patchSize ** 2 * d;
  const block = 2 * t * d * 3 * d + 2 * t * t * d * 2 + 2 * t * d * d + 2 * t * d * h * 2;
  return (patch + s.depth * block + 2 * d * s.numClasses) / 1e9;
}

/**
 * @param s the architecture
 * @returns training GFLOP per image (forward + backward)
 */
export function trainGflopPerImage(s: VitShape): number {
  return 3 * forwardGflopPerImage(s);
}
