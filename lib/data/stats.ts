/** Per-channel pixel statistics, for the `data.mean` / `data.std` of a dataset. */
import type { ImageSet } from "./image_set.ts";

/**
 * Mean and (population) standard deviation of pixel/255 per channel.
 * @param set the images (usually the training split)
 * @returns `mean` and `std`, one number per channel
 *
 * @example
 * ```ts
 * import { channelStats } from "./stats.ts";
 * const images = Uint8Array.from([0, 255, 255, 255]); // four 1×1 grey images
 * const s = channelStats({
 *   images, labels: new Int32Array(4), sourceIndex: new Int32Array(4),
 *   count: 4, height: 1, width: 1, channels: 1, numClasses: 1,
 * });
 * if (s.mean[0] !== 0.75) throw new Error(String(s.mean));
 * ```
 */
export function channelStats(set: ImageSet): { mean: number[]; std: number[] } {
  const c = set.channels;
  // Integer histograms per channel: exact sums, no float drift over millions of pixels.
  const hist = Array.from({ length: c }, () => new Float64Array(256));
  const n = set.count * set.height * set.width * c;
  for (let i = 0; i < n; i++) hist[i % c]![set.images[i]!]!++;
  const mean: number[] = [];
  const std: number[] = [];
  for (const h of hist) {
    let count = 0;
    let sum = 0;
    let sq = 0;
    for (let v = 0; v < 256; v++) {
      count += h[v]!;
      sum += h[v]! * v;
      sq += h[v]! * v * v;
    }
    const m = count > 0 ? sum / count : 0;
    mean.push(m / 255);
    std.push(Math.sqrt(Math.max(0, count > 0 ? sq / count - m * m : 0)) / 255);
  }
  return { mean, std };
}
