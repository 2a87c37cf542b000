/**
 * Training-step throughput of a config's model on random data, per backend.
 *
 * A step is what training does: batch assembly, forward, loss, backward, clipping and the
 * optimizer update (the real Trainer on a random image set). Warm-up steps are not timed.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BackendInfo, initBackend } from "../backend/backend.ts";
import { type ProductShape, recordProducts, timeProducts } from "../backend/blas.ts";
import { checkTrainingMemory } from "../config/estimate.ts";
import type { BackendName, Config } from "../config/schema.ts";
import { augmentEnabled } from "../data/augment.ts";
import { batchTensors, hostBatch } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import { Rng } from "../random.ts";
import { median, roundSignificant, roundTo } from "../stats.ts";
import { Trainer } from "../train/trainer.ts";
import { trainGflopPerImage } from "./flops.ts";
import { type KernelCounts, startKernelCount } from "./kernel_count.ts";

/** One backend's numbers, as `bench` prints them. */
export interface BenchResult {
  backend: BackendInfo["name"];
  device: string;
  batch: number;
  /** Threads computing each step's micro-batches (1 without train.micro_batch). */
  replicas: number;
  /** Waiting for the next batch, per timed step (ms). */
  batch_wait_ms_per_step: number;
  /** Waiting for the replicas after this thread's own micro-batches, per timed step (ms). */
  replica_wait_ms_per_step: number;
  /** The optimizer update and EMA, per timed step (ms). */
  update_ms_per_step: number;
  /**
   * What is left of `ms_per_step` for the model's kernels besides the products: the step less the
   * waits, the update and (blas) the products alone. The next bottleneck when it dominates.
   */
  other_kernels_ms_per_step: number;
  steps: number;
  ms_per_step: number;
  images_per_second: number;
  model_gflop_per_image: number;
  achieved_gflops: number;
  peak_tensors: number;
  rss_mb: number;
  /** Input pipeline alone (gather, normalise, augment, upload), median per batch. */
  data_ms_per_batch: number;
  data_images_per_second: number;
  /**
   * blas only: the step's own matrix products replayed alone through OpenBLAS (same shapes, same
   * calls). The least time any step with these products can take here, whatever else is fused.
   */
  products_ms_per_step?: number;
  /** blas only: the rate those products reach alone, GFLOP/s. */
  products_gflops?: number;
  /**
   * With `vsOneReplica` and replicas: the same steps on this thread alone (as `run.workers=1`),
   * timed in blocks that alternate with the replicas' blocks, median ms a step.
   */
  one_replica_ms_per_step?: number;
  /** With `vsOneReplica`: one_replica_ms_per_step over ms_per_step, both medians. */
  replica_speedup?: number;
  /** With `vsOneReplica`: the lowest and highest speedup of a pair of neighbouring blocks. */
  replica_speedup_range?: [number, number];
  /** Kernels tfjs's engine ran in one training step (counted in an extra, untimed step). */
  kernels_per_step: number;
  /** ms_per_step spread over those kernels, in µs: the cost of one kernel, dispatch and all. */
  us_per_kernel: number;
  /** webgpu only: compute shaders dispatched in that step. */
  dispatches_per_step?: number;
  /** webgpu only: transfers from the GPU to the CPU in that step (the one per-step read of loss and norm). */
  read_backs_per_step?: number;
  /** webgpu only: kernels of that step that read an input back from the GPU to compute on the CPU, by name (a bug: empty is right). */
  cpu_fallbacks?: Record<string, number>;
  /** webgpu only: kernels of that step computed on the CPU on host data (the seed gradient, drop-path masks). */
  host_kernels?: number;
  /**
   * With `profile`: the counted step's kernels by name, most time first (this thread's only, when
   * micro-batches run on replicas): runs and own milliseconds in that step.
   */
  kernel_profile?: { kernel: string; count: number; ms: number }[];
  /** With `profile`: the counted step's own wall time in ms, which its kernels' own times add up under. */
  profiled_step_ms?: number;
}

/** Options of {@linkcode benchTraining}. */
export interface BenchOptions {
  backend: BackendName;
  /** Timed steps (median reported). */
  steps: number;
  /** Untimed steps first (shader compilation, allocator warm-up). */
  warmup: number;
  /** Add `kernel_profile`: where the counted step's kernel time went, by kernel. */
  profile?: boolean;
  /**
   * With replicas, also time the steps on this thread alone, alternating blocks of
   * {@linkcode PAIRED_BLOCK} steps with and without the replicas (`steps` timed steps each way),
   * so that both see the same load; adds `one_replica_ms_per_step` and `replica_speedup`.
   */
  vsOneReplica?: boolean;
}

/**
 * Steps per block when timing with and without replicas; the first step of each block, which
 * follows the switch, is not timed.
 */
export const PAIRED_BLOCK = 6;

/**
 * @param config the model and batch size to time
 * @param o backend and step counts
 * @returns median step time and derived throughput
 */
export async function benchTraining(config: Config, o: BenchOptions): Promise<BenchResult> {
  const backend = await initBackend(o.backend);
  checkTrainingMemory(config, backend.name);
  const shape = vitShapeFromConfig(config);
  const batch = config.train.batch_size;
  // One more step than timed: its kernels are counted, outside the timed ones.
  const total = o.warmup + _plan(o).timedSteps + 1;
  const set = _randomSet(config, batch * total);
  const bench = structuredClone(config);
  bench.train.epochs = 1;
  bench.train.warmup_epochs = 0;
  const model = new VisionTransformer(shape, config.train.seed);
  const trainer = new Trainer(bench, model, set);
  let timed: _Timed;
  try {
    timed = await _timeSteps(trainer, o, backend.name);
  } finally {
    trainer.dispose();
    model.dispose();
  }
  const { times, peak, products, replicas, split, counts, paired } = timed;
  const dataMs = median(_timeDataPipeline(bench, set, o.steps));
  const alone = products.length ? timeProducts(products) : null;
  const ms = median(times);
  const gflop = trainGflopPerImage(shape);
  const ips = (batch * 1000) / ms;
  return {
    backend: backend.name,
    device: backend.device,
    batch,
    replicas,
    steps: times.length,
    ms_per_step: roundTo(ms, 2),
    images_per_second: roundTo(ips, 1),
    model_gflop_per_image: roundTo(gflop, 6),
    // Significant digits, not decimals: a smoke-size model on the cpu backend does a few MFLOP/s.
    achieved_gflops: roundSignificant(gflop * ips, 4),
    peak_tensors: peak,
    rss_mb: roundTo(Deno.memoryUsage().rss / 2 ** 20, 1),
    data_ms_per_batch: roundTo(dataMs, 2),
    data_images_per_second: roundTo((batch * 1000) / dataMs, 1),
    ...(alone ? { products_ms_per_step: roundTo(alone.ms, 2), products_gflops: roundTo(alone.gflops, 2) } : {}),
    // The step's time split: the rest of ms_per_step (less products alone, on blas) is kernels.
    batch_wait_ms_per_step: roundTo(split.batch, 2),
    replica_wait_ms_per_step: roundTo(split.wait, 2),
    update_ms_per_step: roundTo(split.update, 2),
    other_kernels_ms_per_step: roundTo(Math.max(0, ms - split.batch - split.wait - split.update - (alone?.ms ?? 0)), 2),
    ...(paired ? _pairedFields(paired, ms) : {}),
    ..._kernelFields(counts, ms),
    ...(o.profile ? { kernel_profile: kernelProfile(counts), profiled_step_ms: roundTo(counts.wallMs, 2) } : {}),
  };
}

/**
 * @param c the counted step
 * @returns its kernels by name, most own time first
 */
export function kernelProfile(c: KernelCounts): { kernel: string; count: number; ms: number }[] {
  return Object.entries(c.byName)
    .map(([kernel, e]) => ({ kernel, count: e.count, ms: roundTo(e.ms, 3) }))
    .sort((a, b) => b.ms - a.ms || a.kernel.localeCompare(b.kernel));
}

function _pairedFields(
  p: _Paired,
  ms: number,
): Pick<BenchResult, "one_replica_ms_per_step" | "replica_speedup" | "replica_speedup_range"> {
  const one = median(p.blocks.flatMap(([, off]) => off));
  const pairs = p.blocks.map(([on, off]) => median(off) / median(on));
  return {
    one_replica_ms_per_step: roundTo(one, 2),
    replica_speedup: roundTo(one / ms, 3),
    replica_speedup_range: [roundTo(Math.min(...pairs), 3), roundTo(Math.max(...pairs), 3)],
  };
}

function _kernelFields(c: KernelCounts, ms: number): Pick<BenchResult, "kernels_per_step" | "us_per_kernel"> {
  return {
    kernels_per_step: c.kernels,
    us_per_kernel: roundTo((ms * 1000) / Math.max(1, c.kernels), 2),
    ...(c.dispatches !== undefined ? { dispatches_per_step: c.dispatches } : {}),
    ...(c.readBacks !== undefined ? { read_backs_per_step: c.readBacks } : {}),
    ...(c.cpuFallbacks !== undefined ? { cpu_fallbacks: c.cpuFallbacks } : {}),
    ...(c.hostKernels !== undefined ? { host_kernels: c.hostKernels } : {}),
  };
}

/** Times what the training loop does before the model runs: batch gather, normalise, augment, tensors. */
function _timeDataPipeline(config: Config, set: ImageSet, batches: number): number[] {
  const batch = config.train.batch_size;
  const norm = { mean: config.data.mean, std: config.data.std };
  const rng = Rng.fromSeed(config.train.seed, "bench-data");
  const augment = augmentEnabled(config.augment);
  const times: number[] = [];
  for (let i = 0; i < batches; i++) {
    const t0 = performance.now();
    const indices = Int32Array.from({ length: batch }, () => rng.int(set.count));
    const t = batchTensors(
      set,
      hostBatch(set, indices, norm, augment ? { options: config.augment, rng, epoch: 1 } : null),
    );
    tf.dispose([t.x, t.y, ...(t.targets ? [t.targets] : [])]);
    times.push(performance.now() - t0);
  }
  return times;
}

/**
 * The backend's float32 matrix-multiply rate: the median of `repeats` n×n products.
 * @param backend where to run it
 * @param n matrix side
 * @param repeats timed products after one warm-up
 * @returns GFLOP/s (2n³ per product)
 */
export async function matmulPeak(
  backend: BackendName,
  n = 1024,
  repeats = 5,
): Promise<{ backend: string; n: number; gflops: number }> {
  const info = await initBackend(backend);
  const rng = Rng.fromSeed(0, "bench");
  const a = tf.tensor2d(Float32Array.from({ length: n * n }, () => rng.float()), [n, n]);
  const b = tf.tensor2d(Float32Array.from({ length: n * n }, () => rng.float()), [n, n]);
  const times: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (i > 0) times.push(performance.now() - t0);
  }
  tf.dispose([a, b]);
  return { backend: info.name, n, gflops: roundTo((2 * n ** 3) / (median(times) / 1000) / 1e9, 1) };
}

/** The step times of each pair of alternating blocks: with the replicas, then this thread alone. */
interface _Paired {
  blocks: [number[], number[]][];
}

/** What the timed steps measured. */
interface _Timed {
  times: number[];
  peak: number;
  products: ProductShape[];
  replicas: number;
  split: { batch: number; wait: number; update: number };
  counts: KernelCounts;
  paired: _Paired | null;
}

/** Where the timed steps lie: `steps` in a row, or, paired, alternating blocks of both kinds. */
function _plan(o: BenchOptions): { timedSteps: number; pairs: number } {
  if (!o.vsOneReplica) return { timedSteps: o.steps, pairs: 0 };
  const pairs = Math.max(1, Math.ceil(o.steps / (PAIRED_BLOCK - 1)));
  return { timedSteps: 2 * pairs * PAIRED_BLOCK, pairs };
}

/**
 * Trains warm-up steps, timed steps, then one step whose kernels are counted, recording each
 * timed step's time, tensors and (blas) products. Paired, the timed steps alternate blocks with
 * the replicas and without; `times` and the split are then the replicas' blocks'.
 */
async function _timeSteps(trainer: Trainer, o: BenchOptions, backend: string): Promise<_Timed> {
  const times: number[] = [];
  let peak = 0;
  let last = 0;
  let products: ProductShape[] = [];
  let stopCount: (() => KernelCounts) | null = null;
  let counts: KernelCounts = { kernels: 0, byName: {}, wallMs: 0 };
  const replicas = await trainer.startReplicas(backend as Exclude<BackendName, "auto">);
  const plan = _plan(o);
  const paired: _Paired | null = plan.pairs > 0 && replicas > 1
    ? { blocks: Array.from({ length: plan.pairs }, () => [[], []]) }
    : null;
  const timedEnd = o.warmup + (paired ? plan.timedSteps : o.steps);
  const t = trainer.timings;
  const sums = { batch: 0, wait: 0, update: 0 };
  let seen = { batch: 0, wait: 0, update: 0 };
  let done = 0;
  await trainer.trainEpoch(0, {
    // The set holds enough steps for paired blocks; without replicas fewer are timed.
    shouldStop: () => done > timedEnd,
    onStep: (e) => {
      done = e.step;
      const now = e.seconds * 1000;
      const ms = now - last;
      last = now;
      const delta = {
        batch: t.batchWaitMs - seen.batch,
        wait: t.replicaWaitMs - seen.wait,
        update: t.updateMs - seen.update,
      };
      seen = { batch: t.batchWaitMs, wait: t.replicaWaitMs, update: t.updateMs };
      const i = e.step - o.warmup - 1; // this step's place among the timed ones
      if (i >= 0 && e.step <= timedEnd) {
        const block = Math.floor(i / PAIRED_BLOCK);
        const alone = paired !== null && block % 2 === 1;
        // Paired, the first step of a block follows the switch: not timed.
        if (paired === null || i % PAIRED_BLOCK > 0) {
          if (!alone) {
            times.push(ms);
            sums.batch += delta.batch;
            sums.wait += delta.wait;
            sums.update += delta.update;
          }
          if (paired) paired.blocks[Math.floor(block / 2)]![alone ? 1 : 0].push(ms);
        }
      }
      // The next step's kind: paired blocks switch every PAIRED_BLOCK steps, and the counted step has replicas.
      if (paired) {
        const next = e.step - o.warmup;
        trainer.replicasInUse = next < 0 || e.step >= timedEnd || Math.floor(next / PAIRED_BLOCK) % 2 === 0;
      }
      peak = Math.max(peak, tf.memory().numTensors);
      // Record the products of the last warm-up step (the first timed one's are the same).
      if (backend === "blas" && e.step === o.warmup) recordProducts(true);
      if (backend === "blas" && e.step === o.warmup + 1) products = recordProducts(false);
      if (e.step === timedEnd) stopCount = startKernelCount();
      if (e.step === timedEnd + 1 && stopCount) counts = stopCount();
    },
  });
  const per = (ms: number) => ms / Math.max(1, times.length);
  const split = { batch: per(sums.batch), wait: per(sums.wait), update: per(sums.update) };
  return { times, peak, products, replicas, split, counts, paired };
}

function _randomSet(config: Config, count: number): ImageSet {
  const s = config.data.image_size;
  const c = config.data.channels;
  const rng = Rng.fromSeed(config.train.seed, "bench");
  const images = new Uint8Array(count * s * s * c);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(256);
  const labels = Int32Array.from({ length: count }, () => rng.int(config.data.num_classes));
  const sourceIndex = Int32Array.from({ length: count }, (_, i) => i);
  return { images, labels, sourceIndex, count, height: s, width: s, channels: c, numClasses: config.data.num_classes };
}
