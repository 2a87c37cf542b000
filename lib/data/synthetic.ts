/**
 * A seeded, generated, learnable image set of any size, channels and class count.
 *
 * Each class is a fixed pattern of Gaussian blobs; an example is its class's pattern shifted by
 * a few pixels, scaled in brightness and covered in noise. A small ViT learns it in a few
 * hundred steps, which makes it the data of tests and smoke runs.
 */
import { Rng } from "../random.ts";
import type { ImageSet } from "./image_set.ts";

/** What to generate. */
export interface SyntheticOptions {
  count: number;
  imageSize: number;
  channels: number;
  numClasses: number;
  seed: number;
  /** `train` and `test` draw from different streams, so they hold different examples. */
  split: "train" | "test";
}

/**
 * @param o what to generate
 * @returns the image set; the same options give the same bytes
 */
export function makeSynthetic(o: SyntheticOptions): ImageSet {
  const s = o.imageSize;
  const classRng = Rng.fromSeed(o.seed, "synthetic/classes");
  const patterns: Float32Array[] = [];
  for (let k = 0; k < o.numClasses; k++) {
    const p = new Float32Array(s * s * o.channels);
    for (let blob = 0; blob < 3; blob++) {
      const cy = classRng.float() * s;
      const cx = classRng.float() * s;
      const r = (0.08 + classRng.float() * 0.15) * s;
      for (let c = 0; c < o.channels; c++) {
        const amp = 0.4 + classRng.float() * 0.6;
        for (let y = 0; y < s; y++) {
          for (let x = 0; x < s; x++) {
            const d2 = ((y - cy) ** 2 + (x - cx) ** 2) / (r * r);
            p[(y * s + x) * o.channels + c]! += amp * Math.exp(-d2);
          }
        }
      }
    }
    patterns.push(p);
  }
  const rng = Rng.fromSeed(o.seed, `synthetic/${o.split}`);
  const size = s * s * o.channels;
  const images = new Uint8Array(o.count * size);
  const labels = new Int32Array(o.count);
  const maxShift = Math.max(1, Math.floor(s / 16));
  for (let i = 0; i < o.count; i++) {
    const k = rng.int(o.numClasses);
    labels[i] = k;
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    const gain = 0.7 + rng.float() * 0.3;
    const p = patterns[k]!;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const sy = Math.min(s - 1, Math.max(0, y - dy));
        const sx = Math.min(s - 1, Math.max(0, x - dx));
        for (let c = 0; c < o.channels; c++) {
          const v = gain * p[(sy * s + sx) * o.channels + c]! + 0.15 * rng.normal();
          images[i * size + (y * s + x) * o.channels + c] = Math.max(0, Math.min(255, Math.round(v * 200)));
        }
      }
    }
  }
  const sourceIndex = Int32Array.from({ length: o.count }, (_, i) => i);
  return {
    images,
    labels,
    sourceIndex,
    count: o.count,
    height: s,
    width: s,
    channels: o.channels,
    numClasses: o.numClasses,
  };
}
