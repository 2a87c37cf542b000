/** `bench`: training-step throughput per config and backend, one JSON line each (or one table) on stdout. */
import { benchTraining, matmulPeak } from "../lib/bench/bench.ts";
import { trainGflopPerImage } from "../lib/bench/flops.ts";
import { benchPytorch, blasPeak } from "../lib/bench/pytorch.ts";
import { loadConfig } from "../lib/config/load.ts";
import { type BackendName, BACKENDS } from "../lib/config/schema.ts";
import { UsageError } from "../lib/errors.ts";
import { vitShapeFromConfig } from "../lib/model/vit.ts";
import { roundSignificant, roundTo } from "../lib/stats.ts";
import { say } from "./progress.ts";

/** Flags of `bench`. */
export interface BenchFlags {
  backend: string[];
  steps: string;
  warmup: string;
  set: string[];
  comparePytorch?: boolean;
  peak?: boolean;
  profile?: boolean;
  vsOneReplica?: boolean;
  format: string;
}

type Line = Record<string, unknown>;

/**
 * @param configPaths the configs whose models and batch sizes are timed, in order
 * @param flags parsed flags
 */
export async function bench(configPaths: string[], flags: BenchFlags): Promise<void> {
  const steps = _int("--steps", flags.steps);
  const warmup = _int("--warmup", flags.warmup, 0);
  if (!["json", "md"].includes(flags.format)) {
    throw new UsageError(`--format: expected json or md, got '${flags.format}'`);
  }
  const backends = (flags.backend.length ? flags.backend : ["auto"]) as BackendName[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new UsageError(`--backend: unknown backend '${b}'`);
  const configs = configPaths.map((path) => ({ path, config: loadConfig(path, { overrides: flags.set }) }));
  const peak = flags.peak ? await blasPeak() : null;
  const lines: Line[] = [];
  const emit = (line: Line) => {
    lines.push(line);
    if (flags.format === "json") console.log(JSON.stringify(line));
  };
  for (const { path, config } of configs) {
    const torch = flags.comparePytorch ? await benchPytorch(config, { steps, warmup }) : null;
    for (const backend of backends) {
      say(`timing ${path} on ${backend}: ${warmup} warm-up + ${steps} steps at batch ${config.train.batch_size}\n`);
      const r = await benchTraining(config, {
        backend,
        steps,
        warmup,
        profile: flags.profile === true,
        vsOneReplica: flags.vsOneReplica === true,
      });
      const line: Line = { config: path, ...r };
      if (torch) line.pytorch_images_per_second = torch.images_per_second;
      if (torch) line.vs_pytorch = roundTo(r.images_per_second / torch.images_per_second, 2);
      if (flags.peak) {
        line.backend_matmul_gflops = (await matmulPeak(r.backend)).gflops;
        if (peak !== null) {
          line.machine_matmul_gflops = roundTo(peak, 1);
          line.of_machine_peak = roundTo(r.achieved_gflops / peak, 3);
          if (r.products_gflops !== undefined) line.products_of_machine_peak = roundTo(r.products_gflops / peak, 3);
        }
      }
      emit(line);
    }
    if (torch) {
      const gflops = trainGflopPerImage(vitShapeFromConfig(config)) * torch.images_per_second;
      const line: Line = { config: path, backend: "pytorch", batch: config.train.batch_size, ...torch };
      line.achieved_gflops = roundSignificant(gflops, 4);
      if (peak !== null) line.of_machine_peak = roundTo(gflops / peak, 3);
      emit(line);
    }
  }
  if (flags.format === "md") console.log(markdownTable(lines, peak));
  if (flags.format === "md" && flags.profile) {
    for (const l of lines) if (l.kernel_profile) console.log(profileTable(l));
  }
}

/**
 * `--profile` in Markdown: one bench line's kernels, most time first, down to 95% of the time.
 * @param l a bench JSON line with `kernel_profile`
 * @returns a heading and a table
 */
export function profileTable(l: Line): string {
  const rows = l.kernel_profile as { kernel: string; count: number; ms: number }[];
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const shown: string[] = [];
  let sum = 0;
  for (const r of rows) {
    if (sum >= 0.95 * total) break;
    sum += r.ms;
    shown.push(`| ${r.kernel} | ${r.count} | ${r.ms.toFixed(2)} | ${((r.ms / total) * 100).toFixed(1)}% |`);
  }
  const name = _configName(l);
  return [
    `\n${name} on ${l.backend}: one step's kernels, ${total.toFixed(1)} ms of own time in all${
      typeof l.profiled_step_ms === "number" ? ` of a ${l.profiled_step_ms.toFixed(1)} ms step` : ""
    } (the rest: ${rows.length - shown.length} kinds)\n`,
    "| kernel | runs | ms | share |",
    "| --- | --- | --- | --- |",
    ...shown,
  ].join("\n");
}

/**
 * The README's performance table.
 * @param lines bench's JSON lines
 * @param peak the machine's matmul GFLOP/s, if measured
 * @returns a Markdown table, one row per line
 */
export function markdownTable(lines: Line[], peak: number | null): string {
  const pct = (x: unknown) => (typeof x === "number" ? `${(x * 100).toFixed(1)}%` : "–");
  const num = (
    x: unknown,
    d = 1,
  ) => (typeof x === "number" ? x.toLocaleString("en-US", { maximumFractionDigits: d }) : "–");
  const head = [
    "config (batch)",
    "backend",
    "ms/step",
    "images/s",
    "GFLOP/s",
    `of machine peak (${num(peak, 0)} GFLOP/s)`,
    "products alone, of peak",
    "vs PyTorch",
    "kernels/step",
  ];
  const paired = lines.some((l) => typeof l.replica_speedup === "number");
  if (paired) head.push("replicas vs one");
  const rows = lines.map((l) => [
    `${_configName(l)} (${l.batch})`,
    l.backend === "pytorch" ? `PyTorch (${l.threads ?? "?"} thread${l.threads === 1 ? "" : "s"})` : String(l.backend),
    num(l.ms_per_step, 1),
    num(l.images_per_second, 0),
    num(l.achieved_gflops, 1),
    pct(l.of_machine_peak),
    pct(l.products_of_machine_peak),
    l.backend === "pytorch" ? "1" : typeof l.vs_pytorch === "number" ? `${l.vs_pytorch.toFixed(2)}×` : "–",
    num(l.kernels_per_step, 0),
    ...(paired ? [_speedup(l)] : []),
  ]);
  return [head, head.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

/** `1.62× (1.41–1.80)`: a line's replica_speedup and its range, or – without one. */
function _speedup(l: Line): string {
  if (typeof l.replica_speedup !== "number") return "–";
  const [lo, hi] = (l.replica_speedup_range ?? []) as number[];
  return `${l.replica_speedup.toFixed(2)}× (${lo?.toFixed(2)}–${hi?.toFixed(2)})`;
}

function _int(flag: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer ≥ ${min}, got '${value}'`);
  return n;
}

/** A bench line's config as its file name without folder and extension (`vit-small`). */
function _configName(l: Line): string {
  return String(l.config).replace(/^.*\//, "").replace(/\.ya?ml$/, "");
}
