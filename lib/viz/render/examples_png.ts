/** Pictures of examples with their labels: attention rollout beside each image, and the errors. */
import type { ImageSet } from "../../data/image_set.ts";
import { Canvas } from "./canvas.ts";
import { drawExample, drawLabels, LINE, pixelScale, toUnit } from "./image.ts";

/** One example as the pictures label it. */
export interface Example {
  /** Position in the split. */
  index: number;
  /** True class. */
  label: number;
  /** Predicted class. */
  prediction: number;
  /** Softmax probability of the predicted class. */
  confidence: number;
}

const GAP = 4;
const PAD = 10;
const COLUMNS = 4;

/**
 * Each example beside its attention rollout blended over it, labelled with the true and
 * predicted class; four examples to a row.
 * @param set the split
 * @param examples the examples drawn
 * @param maps each example's rollout over the patches ([grid²], any scale: shown relative to its peak)
 * @param grid patches along a side
 * @param names class names by label
 * @returns the picture
 */
export function renderRollout(
  set: ImageSet,
  examples: readonly Example[],
  maps: readonly ArrayLike<number>[],
  grid: number,
  names: readonly string[],
): Canvas {
  return _grid(set, examples, names, 2, (canvas, e, n, x, y, s) => {
    drawExample(canvas, set, e.index, { x, y, scale: s });
    drawExample(canvas, set, e.index, { x: x + set.width * s + GAP, y, scale: s }, {
      values: toUnit(maps[n]!),
      grid,
      alpha: 0.65,
    });
  });
}

/**
 * The most confidently wrong examples, labelled with the true and predicted class and the
 * confidence; a line of text instead when there is no error.
 * @param set the split
 * @param examples the errors, most confident first
 * @param names class names by label
 * @returns the picture
 */
export function renderErrors(set: ImageSet, examples: readonly Example[], names: readonly string[]): Canvas {
  if (examples.length === 0) {
    const canvas = new Canvas(240, 30);
    canvas.text(PAD, PAD, "no errors on these examples");
    return canvas;
  }
  return _grid(set, examples, names, 1, (canvas, e, _n, x, y, s) => {
    drawExample(canvas, set, e.index, { x, y, scale: s });
  });
}

/** Lays examples out in rows of panels, each `panels` images wide with two label lines under it. */
function _grid(
  set: ImageSet,
  examples: readonly Example[],
  names: readonly string[],
  panels: number,
  draw: (canvas: Canvas, e: Example, n: number, x: number, y: number, scale: number) => void,
): Canvas {
  const s = pixelScale(set.width);
  const side = set.width * s;
  const cellW = Math.max(panels * side + (panels - 1) * GAP, 17 * 6);
  const cellH = side + GAP + 2 * LINE;
  const cols = Math.min(panels === 1 ? 2 * COLUMNS : COLUMNS, examples.length);
  const rows = Math.ceil(examples.length / cols);
  const canvas = new Canvas(PAD + cols * (cellW + PAD), PAD + rows * (cellH + PAD));
  examples.forEach((e, n) => {
    const x = PAD + (n % cols) * (cellW + PAD);
    const y = PAD + Math.floor(n / cols) * (cellH + PAD);
    draw(canvas, e, n, x, y, s);
    const truth = names[e.label] ?? String(e.label);
    const predicted = names[e.prediction] ?? String(e.prediction);
    drawLabels(canvas, x, y + side + GAP, cellW, {
      truth,
      predicted,
      confidence: e.confidence,
      right: e.label === e.prediction,
    });
  });
  return canvas;
}
