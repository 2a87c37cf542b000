/** Turns one pass over a split into the pictures and CSVs of `viz`, written into a folder. */
import { join } from "node:path";
import { writeFileAtomic } from "../runs/atomic.ts";
import type { ImageSet } from "../data/image_set.ts";
import type { VisionTransformer } from "../model/vit.ts";
import type { SplitPass } from "./collect.ts";
import { classMetrics, confidentErrors, confusionMatrix } from "./confusion.ts";
import { confusionCsv, matrixCsv, perClassCsv } from "./csv.ts";
import { filterComponents } from "./filters.ts";
import { positionSimilarity } from "./pos_similarity.ts";
import { attentionRollout } from "./rollout.ts";
import type { Canvas } from "./render/canvas.ts";
import { renderConfusion } from "./render/confusion_png.ts";
import { distanceSvg } from "./render/distance_svg.ts";
import { type Example, renderErrors, renderRollout } from "./render/examples_png.ts";
import { renderHeads } from "./render/heads_png.ts";
import { renderFilters, renderSimilarity } from "./render/maps_png.ts";

/** One file `viz` wrote. */
export interface VizFile {
  /** Its name in the output folder. */
  name: string;
  /** Width in pixels, for a PNG. */
  width?: number;
  /** Height in pixels, for a PNG. */
  height?: number;
}

/** How many filter components `patch_filters.png` draws (the ViT paper's figure 7 shows 28). */
export const FILTER_COMPONENTS = 28;

/** Writes files into a folder atomically and lists them in order. */
export class VizWriter {
  /** The files written so far. */
  readonly files: VizFile[] = [];
  /** @param dir the output folder (it exists) */
  constructor(readonly dir: string) {}

  /**
   * @param name file name
   * @param data its contents
   */
  text(name: string, data: string): void {
    writeFileAtomic(join(this.dir, name), data);
    this.files.push({ name });
  }

  /**
   * @param name file name (`.png`)
   * @param canvas the picture
   */
  png(name: string, canvas: Canvas): void {
    writeFileAtomic(join(this.dir, name), canvas.toPng());
    this.files.push({ name, width: canvas.width, height: canvas.height });
  }
}

/** What the figures are drawn from. */
export interface FigureInput {
  model: VisionTransformer;
  set: ImageSet;
  pass: SplitPass;
  /** Positions of the images drawn, in order. */
  drawn: number[];
  /** Class names by label. */
  names: string[];
  /** How many errors to draw. */
  errors: number;
}

/**
 * `attention_rollout.png/.csv`, `attention_heads.png/.csv` and `attention_distance.svg/.csv`.
 * @param w the writer
 * @param f the pass and what to draw
 */
export async function writeAttentionFigures(w: VizWriter, f: FigureInput): Promise<void> {
  const { heads, depth, pool } = f.model.shape;
  const g = f.model.patchEmbed.gridSize;
  const t = g * g + 1;
  const examples = f.drawn.map((i) => _example(f, i));
  const rollouts = f.drawn.map((i) => attentionRollout(f.pass.attention.get(i)!, heads, t, pool));
  w.png("attention_rollout.png", renderRollout(f.set, examples, rollouts, g, f.names));
  const keys = (e: Example) => [e.index, f.set.sourceIndex[e.index]!, e.label, e.prediction];
  w.text(
    "attention_rollout.csv",
    matrixCsv(
      ["index", "source_index", "label", "prediction"],
      "patch_",
      examples.map((e, n) => ({
        keys: keys(e),
        values: rollouts[n]!,
      })),
    ),
  );
  const headMaps = f.drawn.map((i) => _lastBlockHeads(f.pass.attention.get(i)!.at(-1)!, heads, t, pool));
  w.png("attention_heads.png", renderHeads(f.set, examples, headMaps, g, f.names));
  w.text(
    "attention_heads.csv",
    matrixCsv(
      ["index", "source_index", "label", "prediction", "head"],
      "patch_",
      examples.flatMap((e, n) => headMaps[n]!.map((values, h) => ({ keys: [...keys(e), h], values }))),
    ),
  );
  const p = f.model.patchEmbed.patchSize;
  w.text("attention_distance.svg", await distanceSvg(f.pass.distance, heads, (g - 1) * p * Math.SQRT2));
  w.text(
    "attention_distance.csv",
    matrixCsv(
      ["block"],
      "head_",
      Array.from({ length: depth }, (_, b) => ({
        keys: [b],
        values: f.pass.distance.subarray(b * heads, (b + 1) * heads),
      })),
    ),
  );
}

/**
 * `pos_embed_similarity.png/.csv` and `patch_filters.png/.csv`, from the weights alone.
 * @param w the writer
 * @param model the model
 */
export async function writeParameterFigures(w: VizWriter, model: VisionTransformer): Promise<void> {
  const g = model.patchEmbed.gridSize;
  const sim = positionSimilarity((await model.posEmbed.data()) as Float32Array, g * g + 1);
  w.png("pos_embed_similarity.png", renderSimilarity(sim, g));
  const n = g * g;
  w.text(
    "pos_embed_similarity.csv",
    matrixCsv(
      ["patch", "row", "col"],
      "patch_",
      Array.from({ length: n }, (_, i) => ({
        keys: [i, Math.floor(i / g), i % g],
        values: sim.subarray(i * n, (i + 1) * n),
      })),
    ),
  );
  const pe = model.patchEmbed;
  const fanIn = pe.channels * pe.patchSize * pe.patchSize;
  const weight = (await pe.proj.weight.data()) as Float32Array;
  const { components, explained } = filterComponents(weight, fanIn, FILTER_COMPONENTS);
  w.png("patch_filters.png", renderFilters(components, explained, pe.patchSize, pe.channels));
  w.text(
    "patch_filters.csv",
    matrixCsv(
      ["component", "explained_variance"],
      "w_",
      components.map((c, k) => ({
        keys: [k + 1, explained[k]!],
        values: c,
      })),
    ),
  );
}

/**
 * `confusion.png/.csv`, `per_class.csv` and `errors.png/.csv`.
 * @param w the writer
 * @param f the pass and what to draw
 * @returns the accuracy: the confusion matrix's diagonal over its total
 */
export function writeErrorFigures(w: VizWriter, f: FigureInput): number {
  const k = f.names.length;
  const labels = f.set.labels.subarray(0, f.pass.count);
  const matrix = confusionMatrix(labels, f.pass.predictions, k);
  w.png("confusion.png", renderConfusion(matrix, f.names));
  w.text("confusion.csv", confusionCsv(matrix, f.names));
  w.text("per_class.csv", perClassCsv(classMetrics(matrix, k), f.names));
  const wrong = confidentErrors(labels, f.pass.predictions, f.pass.confidence, f.errors).map((i) => _example(f, i));
  w.png("errors.png", renderErrors(f.set, wrong, f.names));
  w.text(
    "errors.csv",
    matrixCsv(
      ["rank", "index", "source_index", "label", "prediction", "label_name", "prediction_name", "confidence"],
      "",
      wrong.map((e, r) => ({
        keys: [
          r + 1,
          e.index,
          f.set.sourceIndex[e.index]!,
          e.label,
          e.prediction,
          f.names[e.label]!,
          f.names[e.prediction]!,
          e.confidence,
        ],
        values: [],
      })),
    ),
  );
  let hits = 0;
  for (let c = 0; c < k; c++) hits += matrix[c * k + c]!;
  return f.pass.count ? hits / f.pass.count : NaN;
}

function _example(f: FigureInput, index: number): Example {
  return {
    index,
    label: f.set.labels[index]!,
    prediction: f.pass.predictions[index]!,
    confidence: f.pass.confidence[index]!,
  };
}

/**
 * Each head's attention over the patches in one block: the class token's row, or for mean
 * pooling the mean of the patch rows (what the pooled vector reads).
 */
function _lastBlockHeads(layer: Float32Array, heads: number, t: number, pool: "cls" | "mean"): Float64Array[] {
  const rows = pool === "cls" ? [0] : Array.from({ length: t - 1 }, (_, i) => i + 1);
  return Array.from({ length: heads }, (_, h) => {
    const out = new Float64Array(t - 1);
    for (const r of rows) {
      for (let j = 1; j < t; j++) out[j - 1]! += layer[(h * t + r) * t + j]! / rows.length;
    }
    return out;
  });
}
