/**
 * Bilinear resizing of uint8 images, antialiased when shrinking, as PIL's `Image.resize(…,
 * BILINEAR)` and torchvision's `Resize(antialias=True)` do: the triangle filter is widened by
 * the shrink factor, so every input pixel contributes instead of aliasing. Pixel centres sit
 * at half-integers (align_corners=False). Two separable passes in float; one rounding at the end.
 */

/**
 * Resizes an image.
 * @param src uint8 [height, width, channels] (HWC)
 * @param height input height
 * @param width input width
 * @param channels channels per pixel
 * @param outHeight output height
 * @param outWidth output width
 * @returns uint8 [outHeight, outWidth, channels]; a copy of `src` when the size is unchanged
 *
 * @example
 * ```ts
 * import { resizeBilinear } from "./resize.ts";
 * // One row [0, 100] to four pixels: half-pixel centres, edges clamped.
 * const out = resizeBilinear(Uint8Array.from([0, 100]), 1, 2, 1, 1, 4);
 * if (out.join() !== "0,25,75,100") throw new Error(out.join());
 * ```
 */
export function resizeBilinear(
  src: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
): Uint8Array {
  if (height === outHeight && width === outWidth) return src.slice(0, height * width * channels);
  const c = channels;
  // Horizontal pass: [height, width, c] → [height, outWidth, c].
  const cols = _weights(width, outWidth);
  const mid = new Float32Array(height * outWidth * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { start, w } = cols[x]!;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k]! * src[(y * width + start + k) * c + ch]!;
        mid[(y * outWidth + x) * c + ch] = acc;
      }
    }
  }
  // Vertical pass: [height, outWidth, c] → [outHeight, outWidth, c].
  const rows = _weights(height, outHeight);
  const out = new Uint8Array(outHeight * outWidth * c);
  for (let y = 0; y < outHeight; y++) {
    const { start, w } = rows[y]!;
    for (let x = 0; x < outWidth; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k]! * mid[((start + k) * outWidth + x) * c + ch]!;
        out[(y * outWidth + x) * c + ch] = Math.min(255, Math.max(0, Math.round(acc)));
      }
    }
  }
  return out;
}

/** Per output position: the first input index and the normalised filter weights (PIL's precompute_coeffs). */
function _weights(inSize: number, outSize: number): { start: number; w: Float64Array }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle filter's support is 1, widened when shrinking
  const out: { start: number; w: Float64Array }[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const start = Math.max(0, Math.trunc(center - support + 0.5));
    const end = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w = new Float64Array(Math.max(1, end - start));
    let sum = 0;
    for (let k = 0; k < w.length; k++) {
      const t = Math.abs((start + k - center + 0.5) / filterScale);
      w[k] = t < 1 ? 1 - t : 0;
      sum += w[k]!;
    }
    for (let k = 0; k < w.length; k++) w[k] = sum > 0 ? w[k]! / sum : 1 / w.length;
    out.push({ start: Math.min(start, inSize - 1), w });
  }
  return out;
}
