/** The confusion matrix as a picture: rows the true class, columns the predicted one. */
import { Canvas, INK, type Rgb } from "./canvas.ts";
import { viridis } from "./colormap.ts";
import { GLYPH_ADVANCE, textWidth } from "./font.ts";
import { fit } from "./image.ts";

const PAD = 10;

/**
 * Each cell coloured by its share of the true class's examples (viridis, 0 to 1) and, while the
 * classes are few enough to read, showing its count. Rows are labelled `label name`; columns by
 * label.
 * @param matrix [K, K] counts, row = true class
 * @param names class names by label
 * @returns the picture
 */
export function renderConfusion(matrix: Int32Array, names: readonly string[]): Canvas {
  const k = names.length;
  const cell = k <= 10 ? 36 : k <= 20 ? 26 : Math.max(4, Math.floor(640 / k));
  const numbers = k <= 20;
  const rowLabels = names.map((n, i) => fit(n === String(i) ? n : `${i} ${n}`, 16 * GLYPH_ADVANCE));
  const labelW = Math.max(...rowLabels.map((l) => textWidth(l)), textWidth("true")) + PAD;
  const left = PAD + labelW;
  const top = PAD + 11 + (numbers ? 11 : 0) + 4;
  const canvas = new Canvas(left + k * cell + PAD, top + k * cell + PAD);
  canvas.text(left, PAD, "predicted ->");
  canvas.text(PAD, top - 11, "true");
  for (let r = 0; r < k; r++) {
    let support = 0;
    for (let c = 0; c < k; c++) support += matrix[r * k + c]!;
    if (cell >= 9) canvas.text(PAD, top + r * cell + Math.floor((cell - 8) / 2), rowLabels[r]!);
    for (let c = 0; c < k; c++) {
      const count = matrix[r * k + c]!;
      const colour = viridis(support ? count / support : 0);
      canvas.fill(left + c * cell, top + r * cell, cell - 1, cell - 1, colour);
      if (numbers) _centred(canvas, String(count), left + c * cell, top + r * cell, cell, _contrast(colour));
    }
  }
  if (numbers) { for (let c = 0; c < k; c++) _centred(canvas, String(c), left + c * cell, PAD + 11, cell, INK, 8); }
  return canvas;
}

function _centred(canvas: Canvas, text: string, x: number, y: number, cell: number, c: Rgb, h = cell): void {
  const w = textWidth(text);
  if (w > cell - 2) return;
  canvas.text(x + Math.floor((cell - 1 - w) / 2), y + Math.floor((h - 1 - 8) / 2) + 1, text, c);
}

function _contrast(c: Rgb): Rgb {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? INK : [255, 255, 255];
}
