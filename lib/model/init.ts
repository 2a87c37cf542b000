/**
 * Weight initialisers as timm's VisionTransformer uses them, drawn from a seeded {@linkcode Rng}
 * in JS so that the same seed gives the same weights on every backend.
 */
import type { Rng } from "../random.ts";

/** How one parameter is initialised. */
export type Init =
  | { kind: "zeros" }
  | { kind: "ones" }
  | { kind: "normal"; std: number }
  | { kind: "trunc_normal"; std: number }
  | { kind: "uniform"; bound: number };

/**
 * Fills a new array of `size` values.
 * @param init the initialiser
 * @param size number of values
 * @param rng the `init` stream
 * @returns the values
 */
export function initValues(init: Init, size: number, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case "zeros":
      break;
    case "ones":
      out.fill(1);
      break;
    case "normal":
      for (let i = 0; i < size; i++) out[i] = rng.normal() * init.std;
      break;
    case "trunc_normal":
      // timm's trunc_normal_(std=.02) cuts at ±2 absolute, not ±2σ; resample outside, as torch does.
      for (let i = 0; i < size; i++) {
        let v = rng.normal() * init.std;
        while (v < -2 || v > 2) v = rng.normal() * init.std;
        out[i] = v;
      }
      break;
    case "uniform":
      for (let i = 0; i < size; i++) out[i] = (rng.float() * 2 - 1) * init.bound;
      break;
  }
  return out;
}
