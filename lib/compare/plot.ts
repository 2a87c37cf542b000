/**
 * Learning curves of runs with Vega-Lite, rendered to SVG headless (Vega's "none" renderer,
 * no browser, no canvas): validation accuracy, validation loss and training loss per epoch,
 * one line per run, coloured by the config keys that set the runs apart.
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { SAME_RESULT_KEYS } from "../runs/resume_rules.ts";
import { differingKeys } from "./diff_keys.ts";
import { configText } from "./flatten.ts";
import type { RunRecord } from "./read_run.ts";

/** Options of {@link plotSvg} and {@link plotSpec}. */
export interface PlotOptions {
  /**
   * Runs that differ only in this key (and in keys that change no result, such as
   * `run.workers`) share a colour: the `--group-by` key.
   */
  groupBy?: string;
  /** Width of each panel in pixels (default 260). */
  width?: number;
  /** Height of each panel in pixels (default 190). */
  height?: number;
}

/** The panels, left to right: metric column and title. */
export const PLOT_PANELS = [
  ["val_acc", "validation accuracy"],
  ["val_loss", "validation loss"],
  ["train_loss", "training loss"],
] as const;

/**
 * @param runs runs to plot (those without metrics rows draw no line)
 * @param groupBy a key whose value is left out of the labels, with the keys that change no
 *   result (`run.workers`, …), so that a group's runs share a label
 * @returns each run's label (the values of the differing keys) and the legend's title
 * @example
 * ```ts
 * import { curveLabels } from "./plot.ts";
 * const run = (id: string, patch: number) => ({ id, config: { "model.patch_size": patch, "train.seed": 0 } });
 * const { labels, title } = curveLabels([run("a", 4), run("b", 7)] as never);
 * if (title !== "model.patch_size" || labels.join() !== "4,7") throw new Error("wrong");
 * ```
 */
export function curveLabels(runs: RunRecord[], groupBy?: string): { labels: string[]; title: string } {
  const keys = differingKeys(runs.map((r) => r.config), groupBy === undefined ? [] : [groupBy, ...SAME_RESULT_KEYS]);
  if (keys.length === 0) return { labels: runs.map((r) => (groupBy === undefined ? r.id : "all runs")), title: "run" };
  return {
    labels: runs.map((r) => keys.map((k) => (k in r.config ? configText(r.config[k]) : "-")).join(", ")),
    title: keys.join(", "),
  };
}

/**
 * The most runs one plot draws: past a few hundred lines a plot says nothing, and vega's layout
 * overflows the call stack near 1,600 runs.
 */
export const PLOT_MAX_RUNS = 200;

/**
 * The runs a plot draws: all of them, or the {@linkcode PLOT_MAX_RUNS} with the best validation
 * accuracy, with a line saying so.
 * @param runs the runs compared
 * @returns the runs to draw, and a note when some were left out
 * @example
 * ```ts
 * import { selectPlotRuns } from "./plot.ts";
 * if (selectPlotRuns([]).note !== null) throw new Error("nothing to leave out");
 * ```
 */
export function selectPlotRuns(runs: RunRecord[]): { runs: RunRecord[]; note: string | null } {
  if (runs.length <= PLOT_MAX_RUNS) return { runs, note: null };
  const best = [...runs].sort((a, b) => (b.stats.bestValAcc ?? -1) - (a.stats.bestValAcc ?? -1)).slice(
    0,
    PLOT_MAX_RUNS,
  );
  return {
    runs: best,
    note:
      `the plot draws the ${PLOT_MAX_RUNS} runs with the best val_acc of ${runs.length} (more lines would be unreadable)`,
  };
}

/**
 * The Vega-Lite spec of the learning curves.
 * @param runs the runs
 * @param options grouping and panel size
 * @returns a spec with three panels side by side and one shared colour legend
 */
export function plotSpec(runs: RunRecord[], options: PlotOptions = {}): TopLevelSpec {
  const { labels, title } = curveLabels(runs, options.groupBy);
  const values: { run: string; label: string; epoch: number; metric: string; value: number }[] = [];
  runs.forEach((run, i) => {
    for (const row of run.metrics) {
      for (const [metric] of PLOT_PANELS) {
        const value = row[metric];
        if (Number.isFinite(value)) values.push({ run: run.id, label: labels[i]!, epoch: row.epoch, metric, value });
      }
    }
  });
  const order = [...new Set(labels)].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const maxEpoch = Math.max(1, ...values.map((v) => v.epoch));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values },
    config: { font: "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif", view: { stroke: "#ddd" } },
    hconcat: PLOT_PANELS.map(([metric, name]) => ({
      title: name,
      width: options.width ?? 260,
      height: options.height ?? 190,
      transform: [{ filter: { field: "metric", equal: metric } }],
      // Points too while there are few epochs: a one-epoch run is a single point.
      mark: { type: "line" as const, point: maxEpoch <= 5, strokeWidth: 1.8 },
      encoding: {
        x: {
          field: "epoch",
          type: "quantitative" as const,
          scale: { domain: [1, maxEpoch] },
          axis: { tickMinStep: 1, format: "d" },
        },
        y: { field: "value", type: "quantitative" as const, title: metric, scale: { zero: false } },
        color: {
          field: "label",
          type: "nominal" as const,
          title,
          sort: order,
          scale: { scheme: order.length > 10 ? "category20" : "tableau10" },
        },
        detail: { field: "run", type: "nominal" as const },
      },
    })),
    resolve: { scale: { color: "shared" } },
  };
}

/**
 * Renders the learning curves to SVG.
 * @param runs the runs
 * @param options grouping and panel size
 * @returns an SVG document; each panel has one `<path>` per run with metrics in its line mark
 * @example
 * ```ts
 * import { plotSvg } from "./plot.ts";
 * import { runStats } from "./read_run.ts";
 * const metrics = [1, 2].map((epoch) => ({
 *   epoch, step: epoch, lr: 1e-3, train_loss: 1 / epoch, train_acc: 0.5, val_loss: 1 / epoch,
 *   val_acc: 0.4 * epoch, epoch_seconds: 1, images_per_second: 100,
 * }));
 * const config = { "model.depth": 2 };
 * const run = { dir: "r", id: "r", config, metrics, summary: null, evals: {}, status: "completed", stats: runStats(config, metrics, null), warnings: [] };
 * const svg = await plotSvg([run]);
 * if (!svg.startsWith("<svg") || !svg.includes("validation accuracy")) throw new Error("wrong");
 * ```
 */
export async function plotSvg(runs: RunRecord[], options: PlotOptions = {}): Promise<string> {
  const view = new vega.View(vega.parse(compile(plotSpec(runs, options)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
