/** Colour scales for the pictures. */
import type { Rgb } from "./canvas.ts";

/** Viridis at nine evenly spaced stops (matplotlib's), dark blue to yellow. */
const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/**
 * Viridis, linearly interpolated between its stops.
 * @param t position in [0, 1] (clamped; NaN draws as 0)
 * @returns the colour
 * @example
 * ```ts
 * import { viridis } from "./colormap.ts";
 * if (viridis(0).join() !== "68,1,84" || viridis(1).join() !== "253,231,37") throw new Error("wrong");
 * ```
 */
export function viridis(t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isNaN(t) ? 0 : t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [0, 1, 2].map((c) => Math.round(a[c]! + (b[c]! - a[c]!) * f)) as unknown as Rgb;
}

/**
 * A grey level.
 * @param t brightness in [0, 1] (clamped)
 * @returns the colour
 */
export function grey(t: number): Rgb {
  const v = Math.round(Math.min(1, Math.max(0, t)) * 255);
  return [v, v, v];
}

/**
 * Mixes two colours.
 * @param a first colour
 * @param b second colour
 * @param t weight of b, in [0, 1]
 * @returns (1 − t)·a + t·b
 */
export function blend(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((c) => Math.round(a[c]! * (1 - t) + b[c]! * t)) as unknown as Rgb;
}
