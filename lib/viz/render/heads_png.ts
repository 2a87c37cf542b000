/** The last block's attention per head, one row per example. */
import type { ImageSet } from "../../data/image_set.ts";
import { Canvas } from "./canvas.ts";
import type { Example } from "./examples_png.ts";
import { drawExample, drawLabels, fit, LINE, pixelScale, toUnit } from "./image.ts";

const GAP = 4;
const PAD = 10;

/**
 * Each example, then one map per head of the last block blended over it: the attention of the
 * class token (or, for a mean-pooled model, the mean over the patch tokens) to every patch.
 * @param set the split
 * @param examples the examples drawn
 * @param maps per example, per head: [grid²] weights over the patches
 * @param grid patches along a side
 * @param names class names by label
 * @returns the picture
 */
export function renderHeads(
  set: ImageSet,
  examples: readonly Example[],
  maps: readonly (readonly ArrayLike<number>[])[],
  grid: number,
  names: readonly string[],
): Canvas {
  const s = pixelScale(set.width);
  const side = set.width * s;
  const heads = maps[0]?.length ?? 0;
  const labelW = Math.max(side, 17 * 6);
  const rowH = side + GAP + 2 * LINE + PAD;
  const top = PAD + LINE + GAP;
  const left = PAD + labelW + GAP;
  const canvas = new Canvas(left + heads * (side + GAP) + PAD, top + examples.length * rowH);
  for (let h = 0; h < heads; h++) canvas.text(left + h * (side + GAP), PAD, fit(`head ${h}`, side));
  examples.forEach((e, n) => {
    const y = top + n * rowH;
    drawExample(canvas, set, e.index, { x: PAD, y, scale: s });
    drawLabels(canvas, PAD, y + side + GAP, labelW, {
      truth: names[e.label] ?? String(e.label),
      predicted: names[e.prediction] ?? String(e.prediction),
      confidence: e.confidence,
      right: e.label === e.prediction,
    });
    for (let h = 0; h < heads; h++) {
      drawExample(canvas, set, e.index, { x: left + h * (side + GAP), y, scale: s }, {
        values: toUnit(maps[n]![h]!),
        grid,
        alpha: 0.65,
      });
    }
  });
  return canvas;
}
