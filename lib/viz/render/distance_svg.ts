/** Mean attention distance against depth as an SVG chart (Vega-Lite, rendered headless). */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/**
 * One point per head and block, as the ViT paper's figure 7 (right) draws it.
 * @param distance [depth, H] mean distances in pixels
 * @param heads H
 * @param maxDistance the farthest two patch centres are apart, in pixels: the y axis's top
 * @returns an SVG document
 */
export async function distanceSvg(distance: Float64Array, heads: number, maxDistance: number): Promise<string> {
  const depth = distance.length / heads;
  const values = Array.from(distance, (d, i) => ({ block: Math.floor(i / heads), head: i % heads, distance: d }));
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values },
    width: Math.max(220, 36 * depth),
    height: 220,
    config: { font: "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif", view: { stroke: "#ddd" } },
    title: "mean attention distance",
    mark: { type: "point", filled: true, size: 60, opacity: 0.85 },
    encoding: {
      x: {
        field: "block",
        type: "quantitative",
        title: "block (network depth)",
        scale: { domain: [-0.5, depth - 0.5] },
        axis: { tickMinStep: 1, format: "d" },
      },
      y: {
        field: "distance",
        type: "quantitative",
        title: "mean attention distance (pixels)",
        scale: { domain: [0, Math.max(maxDistance, ...distance)], nice: false },
      },
      color: { field: "head", type: "nominal", title: "head" },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
