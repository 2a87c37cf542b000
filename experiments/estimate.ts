/**
 * A sweep's time estimate, printed before it starts; every run's config is loaded first, so a
 * wrong key or value stops the sweep before anything trains.
 *
 *   printf '%s\n' "--set model.depth=2" "--set model.depth=4" |
 *     deno run --allow-read --allow-env experiments/estimate.ts configs/vit-small.yaml --jobs 2
 *
 * Each line of stdin is one run's exp arguments (`--set key=value`, `--name`, `--backend`).
 * The model: training an image costs three forward passes, a forward pass costs the matmul
 * FLOPs of the ViT (patch embedding, qkv, attention, projection, MLP, head; counted by
 * lib/config/size.ts), validation one forward pass per image; plus a fixed cost per optimizer
 * step and per run. The speed: `--measured` passes the line `deno task bench … --format json`
 * printed for the sweep's base config on this machine (the sweep scripts time it first), so the
 * backend, replicas and micro-batches the runs will use are in it; every run's FLOPs are then
 * counted at that rate. Without it (or with GFLOPS=…, which wins), the speed of the wasm
 * backend on one core of a 2-core x86 CPU. It is a rough guide, not a promise: a busy machine
 * is slower, and small models do worse per FLOP than the base config's rate says.
 */
import { DATASET_INFO } from "../lib/config/dataset_info.ts";
import { loadConfig } from "../lib/config/load.ts";
import type { Config } from "../lib/config/schema.ts";
import { vitForwardFlops, vitSizeFromConfig, vitTrainFlops } from "../lib/config/size.ts";
import { VitlabError } from "../lib/errors.ts";

/**
 * Sustained GFLOP/s of one run on the wasm backend, measured on a 2-core AMD EPYC shared with
 * other training jobs: vit-small on MNIST (5,400 images, 3 epochs) at 4.9 with patch 4 (68
 * images/s) and 8.0 with patch 7 (367 images/s); 1-epoch runs on a busier machine at 3.4–3.6
 * (patch 2 with batch 32, 4 and 7). Small models and short runs do worse per FLOP.
 */
export const DEFAULT_GFLOPS = 4.5;
/** Seconds per optimizer step beyond the FLOPs (kernel dispatch, optimizer update). */
export const STEP_SECONDS = 0.003;
/** Seconds per run beyond training: start-up, dataset loading, checkpoints. */
export const RUN_SECONDS = 3;

/**
 * @param config a resolved config
 * @returns multiply-adds × 2 of one forward pass on one image (lib/config/size.ts counts them)
 * @example
 * ```ts
 * import { forwardFlops } from "./estimate.ts";
 * import { configFromObject } from "../lib/config/load.ts";
 * if (forwardFlops(configFromObject({ data: { dataset: "mnist" } }, [])) <= 0) throw new Error("no work");
 * ```
 */
export function forwardFlops(config: Config): number {
  return vitForwardFlops(vitSizeFromConfig(config));
}

/**
 * @param config a resolved config
 * @param gflops the speed assumed
 * @param stepSeconds the cost of an optimizer step beyond its FLOPs (0 when the speed was
 *   measured on whole steps)
 * @returns estimated seconds the run takes; NaN when the dataset's size is only in its files
 *   (idx, folder) and `data.subset` does not set it
 * @example
 * ```ts
 * import { estimateSeconds, RUN_SECONDS } from "./estimate.ts";
 * import { configFromObject } from "../lib/config/load.ts";
 * if (estimateSeconds(configFromObject({ data: { dataset: "mnist" } }, [])) <= RUN_SECONDS) throw new Error("too fast");
 * ```
 */
export function estimateSeconds(config: Config, gflops = DEFAULT_GFLOPS, stepSeconds = STEP_SECONDS): number {
  const total = config.data.dataset === "synthetic"
    ? config.data.synthetic_size
    : DATASET_INFO[config.data.dataset].train_images;
  const used = config.data.subset > 0 ? Math.min(config.data.subset, total ?? Infinity) : total;
  // idx and folder datasets: their files say how many images there are, and only data.subset
  // says it here.
  if (used === null) return NaN;
  const val = Math.round(used * config.data.val_fraction);
  const steps = Math.floor((used - val) / config.train.batch_size);
  const size = vitSizeFromConfig(config);
  const train = vitTrainFlops(size);
  const forward = vitForwardFlops(size);
  const epoch = (steps * config.train.batch_size * train + val * forward) / (gflops * 1e9) + steps * stepSeconds;
  return RUN_SECONDS + config.train.epochs * epoch;
}

/** A speed timed on this machine: what the estimate assumes when the sweep could time its base config. */
export interface MeasuredSpeed {
  /** Sustained GFLOP/s of one run: images/s × the training GFLOP of one image. */
  gflops: number;
  imagesPerSecond: number;
  backend: string;
  /** Cores one run keeps busy: its replicas. */
  replicas: number;
}

/**
 * @param line one JSON line of `deno task bench CONFIG --format json`
 * @returns the speed it measured
 * @throws {Error} when the line is not such a record
 * @example
 * ```ts
 * import { measuredSpeed } from "./estimate.ts";
 * const s = measuredSpeed('{"backend":"blas","replicas":2,"images_per_second":500,"model_gflop_per_image":0.07}');
 * if (Math.abs(s.gflops - 35) > 1e-9 || s.replicas !== 2) throw new Error(JSON.stringify(s));
 * ```
 */
export function measuredSpeed(line: string): MeasuredSpeed {
  const r = JSON.parse(line) as Record<string, unknown>;
  const ips = r.images_per_second, gflop = r.model_gflop_per_image, replicas = r.replicas ?? 1;
  if (typeof ips !== "number" || !(ips > 0) || typeof gflop !== "number" || !(gflop > 0)) {
    throw new Error(`expected images_per_second and model_gflop_per_image > 0 in bench's record: ${line}`);
  }
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`expected replicas ≥ 1 in bench's record: ${line}`);
  }
  return { gflops: ips * gflop, imagesPerSecond: ips, backend: String(r.backend ?? "?"), replicas };
}

/**
 * @param seconds durations of the runs
 * @param jobs runs at a time
 * @param cores CPU cores (more jobs than cores share them)
 * @returns wall seconds when each run starts as soon as a slot is free
 * @example
 * ```ts
 * import { sweepSeconds } from "./estimate.ts";
 * if (sweepSeconds([10, 10, 10], 2, 2) !== 20) throw new Error("two slots: 10 + 10 beside 10");
 * ```
 */
export function sweepSeconds(seconds: number[], jobs: number, cores: number): number {
  const slots: number[] = new Array(Math.max(1, jobs)).fill(0);
  for (const s of seconds) {
    const i = slots.indexOf(Math.min(...slots));
    slots[i]! += s;
  }
  return Math.max(...slots) * Math.max(1, jobs / Math.max(1, cores));
}

/**
 * @param seconds a duration
 * @returns it as `45 s`, `12 min` or `2.5 h`
 * @example
 * ```ts
 * import { humanDuration } from "./estimate.ts";
 * if (humanDuration(9000) !== "2.5 h") throw new Error(humanDuration(9000));
 * ```
 */
export function humanDuration(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function _main(args: string[]): number {
  const config = args[0];
  const j = args.indexOf("--jobs");
  const jobs = j >= 0 ? Number(args[j + 1]) : 1;
  if (config === undefined || !Number.isInteger(jobs) || jobs < 1) {
    console.error(
      "usage: estimate.ts CONFIG [--jobs N] [--slurm] [--measured BENCH_JSON] < runs (one line of exp arguments per run)",
    );
    return 2;
  }
  const m = args.indexOf("--measured");
  const given = Deno.env.get("GFLOPS");
  let measured: MeasuredSpeed | null = null;
  if (m >= 0 && !given) {
    try {
      measured = measuredSpeed(args[m + 1] ?? "");
    } catch (err) {
      console.error(`estimate: --measured: ${err instanceof Error ? err.message : String(err)}`);
      return 2;
    }
  }
  const gflops = measured ? measured.gflops : Number(given ?? DEFAULT_GFLOPS);
  // A measured rate was timed on whole steps: their fixed cost is already in it.
  const stepSeconds = measured ? 0 : STEP_SECONDS;
  const lines = new TextDecoder().decode(_readAll()).split("\n")
    .filter((l) => l.trim());
  const seconds: number[] = [];
  let unknown = 0;
  for (const line of lines) {
    const words = line.trim().split(/\s+/);
    const overrides: string[] = [];
    let name: string | undefined;
    for (let i = 0; i < words.length; i++) {
      if (words[i] === "--set") overrides.push(words[++i] ?? "");
      else if (words[i]!.startsWith("--set=")) overrides.push(words[i]!.slice(6));
      else if (words[i] === "--name") name = words[++i];
    }
    try {
      const c = loadConfig(config, { overrides, ...(name !== undefined ? { name } : {}) });
      const s = estimateSeconds(c, gflops, stepSeconds);
      const label = overrides.join(" ") || "(the config as it is)";
      if (Number.isNaN(s)) {
        unknown++;
        console.log(`  ${label.padEnd(48)} ? (${c.data.dataset}: its size is in its files; data.subset would set it)`);
        continue;
      }
      seconds.push(s);
      console.log(`  ${label.padEnd(48)} ~${humanDuration(s)}`);
    } catch (err) {
      if (!(err instanceof VitlabError)) throw err;
      console.error(`estimate: ${line.trim()}: ${err.message}`);
      return 2;
    }
  }
  const sequential = seconds.reduce((a, b) => a + b, 0);
  const cores = navigator.hardwareConcurrency || 1;
  // A run with replicas keeps that many cores busy: fewer of them fit side by side.
  const slots = Math.max(1, cores / (measured?.replicas ?? 1));
  // A Slurm array task gets CPUs of its own (--cpus-per-task), so its tasks do not share this
  // machine's cores: only the number at a time counts.
  const slurm = args.includes("--slurm");
  const parallel = jobs <= 1
    ? ""
    : slurm
    ? `; as a Slurm array, ${jobs} tasks at a time ~${humanDuration(sweepSeconds(seconds, jobs, jobs))}`
    : `; with JOBS=${jobs} on ${cores} cores ~${humanDuration(sweepSeconds(seconds, jobs, slots))}`;
  const speed = measured
    ? `the base config timed here at ${Math.round(measured.imagesPerSecond)} images/s on ${measured.backend}` +
      `${measured.replicas > 1 ? ` with ${measured.replicas} replicas` : ""}, ${
        measured.gflops.toFixed(1)
      } GFLOP/s a run`
    : `${gflops} GFLOP/s per run${given ? "" : " as wasm on one CPU core"}`;
  const known = unknown > 0 ? ` for the ${seconds.length} run${seconds.length === 1 ? "" : "s"} of known size` : "";
  console.log(
    `estimate: ~${humanDuration(sequential)}${known} one run after another${parallel} ` +
      `(rough: ${speed}; set GFLOPS= to assume another speed)`,
  );
  return 0;
}

function _readAll(): Uint8Array {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (let n = Deno.stdin.readSync(buf); n !== null; n = Deno.stdin.readSync(buf)) chunks.push(buf.slice(0, n));
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

if (import.meta.main) Deno.exit(_main(Deno.args));
