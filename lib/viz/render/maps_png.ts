/** Pictures of the model's own parameters: position-embedding similarity and patch filters. */
import { Canvas } from "./canvas.ts";
import { viridis } from "./colormap.ts";
import { fit, LINE } from "./image.ts";

const PAD = 10;
const GAP = 3;

/**
 * A grid of small maps, one per patch at the patch's place: the cosine similarity of that
 * patch's position embedding with every patch's, in viridis from −1 to 1, with a colour bar.
 * @param similarity [N, N] row-major, N = grid²
 * @param grid patches along a side
 * @returns the picture
 */
export function renderSimilarity(similarity: Float64Array, grid: number): Canvas {
  const n = grid * grid;
  const cell = Math.max(2, Math.ceil(36 / grid));
  const map = grid * cell;
  const side = grid * (map + GAP) - GAP;
  const barTop = PAD + side + PAD;
  const canvas = new Canvas(Math.max(PAD + side + PAD, 200), barTop + 10 + GAP + LINE + PAD);
  for (let p = 0; p < n; p++) {
    const x = PAD + (p % grid) * (map + GAP);
    const y = PAD + Math.floor(p / grid) * (map + GAP);
    canvas.cells(x, y, grid, grid, cell, (i, j) => viridis((similarity[p * n + j * grid + i]! + 1) / 2));
  }
  const barW = canvas.width - 2 * PAD;
  for (let i = 0; i < barW; i++) canvas.fill(PAD + i, barTop, 1, 10, viridis(i / Math.max(1, barW - 1)));
  canvas.text(PAD, barTop + 10 + GAP, "-1");
  canvas.text(PAD + barW - 6, barTop + 10 + GAP, "1");
  const title = "cosine similarity";
  canvas.text(PAD + Math.floor((barW - title.length * 6) / 2), barTop + 10 + GAP, title);
  return canvas;
}

/**
 * The filters' principal components, each a P×P patch (grey for one channel, colour for three),
 * scaled from its own minimum to its maximum, labelled with the variance it explains.
 * @param components unit vectors laid out (C, Py, Px)
 * @param explained each one's share of the variance
 * @param patchSize P
 * @param channels C
 * @returns the picture
 */
export function renderFilters(
  components: readonly Float64Array[],
  explained: readonly number[],
  patchSize: number,
  channels: number,
): Canvas {
  const p = patchSize;
  const scale = Math.max(2, Math.ceil(42 / p));
  const side = Math.max(p * scale, 36);
  const cols = Math.min(7, components.length);
  const rows = Math.ceil(components.length / cols);
  const canvas = new Canvas(PAD + cols * (side + PAD), PAD + rows * (side + GAP + LINE + PAD));
  components.forEach((c, k) => {
    const x = PAD + (k % cols) * (side + PAD);
    const y = PAD + Math.floor(k / cols) * (side + GAP + LINE + PAD);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of c) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const unit = (v: number) => Math.round(hi > lo ? (255 * (v - lo)) / (hi - lo) : 128);
    canvas.cells(x, y, p, p, scale, (i, j) => {
      const at = (ch: number) => unit(c[(ch * p + j) * p + i]!);
      return channels === 3 ? [at(0), at(1), at(2)] : [at(0), at(0), at(0)];
    });
    canvas.text(x, y + p * scale + GAP, fit(`${k + 1}: ${(explained[k]! * 100).toFixed(0)}%`, side));
  });
  return canvas;
}
