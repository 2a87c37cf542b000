/** Drawing dataset images and patch maps into a canvas. */
import type { ImageSet } from "../../data/image_set.ts";
import { type Canvas, INK, type Rgb } from "./canvas.ts";
import { blend, viridis } from "./colormap.ts";
import { GLYPH_ADVANCE } from "./font.ts";

/** Red for a wrong prediction's label, green for a right one. */
export const WRONG: Rgb = [200, 30, 30];
/** Green for a right prediction's label. */
export const RIGHT: Rgb = [20, 130, 40];

/**
 * The integer upscaling that makes an image about 96 pixels across (at least 1).
 * @param imageSize image side in pixels
 * @returns pixels per image pixel
 */
export function pixelScale(imageSize: number): number {
  return Math.max(1, Math.round(96 / imageSize));
}

/**
 * The colour of one pixel of an example (grey for one channel).
 * @param set the split
 * @param index position in the split
 * @param x column
 * @param y row
 * @returns its colour
 */
export function pixelOf(set: ImageSet, index: number, x: number, y: number): Rgb {
  const c = set.channels;
  const o = ((index * set.height + y) * set.width + x) * c;
  const v = set.images;
  return c === 3 ? [v[o]!, v[o + 1]!, v[o + 2]!] : [v[o]!, v[o]!, v[o]!];
}

/**
 * Draws an example, upscaled; with a patch map, blended over it in viridis.
 * @param canvas where to draw
 * @param set the split
 * @param index position in the split
 * @param at left and top, and `scale` pixels per image pixel
 * @param map optional [grid²] values in [0, 1], one per patch, and the map's weight in the blend
 */
export function drawExample(
  canvas: Canvas,
  set: ImageSet,
  index: number,
  at: { x: number; y: number; scale: number },
  map?: { values: ArrayLike<number>; grid: number; alpha: number },
): void {
  const patch = map ? set.width / map.grid : 1;
  canvas.cells(at.x, at.y, set.width, set.height, at.scale, (i, j) => {
    const p = pixelOf(set, index, i, j);
    if (!map) return p;
    const v = map.values[Math.floor(j / patch) * map.grid + Math.floor(i / patch)]!;
    return blend(p, viridis(v), map.alpha);
  });
}

/**
 * Stretches values onto [0, 1], the smallest to 0 and the largest to 1 (all equal: all 0), so a
 * map's structure shows however flat it is; the CSVs keep the values themselves.
 * @param values the values
 * @returns (v − min) / (max − min)
 * @example
 * ```ts
 * import { toUnit } from "./image.ts";
 * if (toUnit([2, 3, 4]).join() !== "0,0.5,1" || toUnit([5, 5]).join() !== "0,0") throw new Error("wrong");
 * ```
 */
export function toUnit(values: ArrayLike<number>): Float64Array {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) [min, max] = [Math.min(min, values[i]!), Math.max(max, values[i]!)];
  return Float64Array.from(values, (v) => (max > min ? (v - min) / (max - min) : 0));
}

/**
 * Shortens a label to fit a width, marking the cut with `.`.
 * @param text the label
 * @param width pixels available
 * @returns the label, cut to fit
 */
export function fit(text: string, width: number): string {
  const max = Math.max(1, Math.floor((width + 1) / GLYPH_ADVANCE));
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}.`;
}

/**
 * The two label lines under an example: true class, and predicted class with its confidence,
 * the second in green when right and red when wrong.
 * @param canvas where to draw
 * @param x left
 * @param y top of the first line
 * @param width pixels available
 * @param l the names and the confidence
 */
export function drawLabels(
  canvas: Canvas,
  x: number,
  y: number,
  width: number,
  l: { truth: string; predicted: string; confidence: number; right: boolean },
): void {
  canvas.text(x, y, fit(`true ${l.truth}`, width), INK);
  const pct = ` ${Math.round(l.confidence * 100)}%`;
  canvas.text(
    x,
    y + LINE,
    fit(`pred ${l.predicted}`, width - pct.length * GLYPH_ADVANCE) + pct,
    l.right ? RIGHT : WRONG,
  );
}

/** Height of a label line in pixels. */
export const LINE = 11;
