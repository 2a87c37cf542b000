/**
 * The training loop: one epoch at a time, tidy and dispose every step.
 *
 * Random streams are derived per epoch (`shuffle/<epoch>`, `dropout/<epoch>`) from the seed,
 * so an epoch's data order and masks depend only on the seed and the epoch number.
 */
import { setImmediate } from "node:timers";
import * as tf from "@tensorflow/tfjs-core";
import type { BackendName, Config } from "../config/schema.ts";
import { capBlasThreads } from "../backend/blas.ts";
import { augmentEnabled } from "../data/augment.ts";
import type { HostBatch, Normalization } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { BatchSource } from "../data/prefetch.ts";
import { DivergedError } from "../errors.ts";
import type { Param } from "../model/params.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { Rng, type RngState } from "../random.ts";
import { clipScale } from "./clip.ts";
import { ModelEma } from "./ema.ts";
import { frozenNames } from "./freeze.ts";
import { cutBatch, microBatchGrads, microBatchRng } from "./micro_grads.ts";
import type { EvalReplicas } from "./evaluate.ts";
import { type MirrorState, type RemoteMicroGrads, ReplicaPool } from "./replicas.ts";
import { optimizerFromConfig, type VitOptimizer } from "./optimizer.ts";
import { GradSum } from "./grad_sum.ts";
import { learningRate, type ScheduleOptions } from "./schedule.ts";

/** Reported after every optimizer step. */
export interface StepEvent {
  /** One-based epoch. */
  epoch: number;
  /** `train.epochs`: the run's total. */
  epochs: number;
  /** One-based step within the epoch. */
  step: number;
  /** Optimizer steps in an epoch: whole batches only. */
  stepsPerEpoch: number;
  /** Optimizer steps since the run began. */
  globalStep: number;
  /** This batch's mean training loss (before the update). */
  loss: number;
  /** This batch's training accuracy, in [0, 1]. */
  acc: number;
  /** The learning rate this step used, after warmup and schedule. */
  lr: number;
  /** Training images per second since the epoch began (or resumed). */
  imagesPerSecond: number;
  /** Seconds since the epoch began. */
  seconds: number;
}

/** Where a step's time goes besides its kernels, summed over steps (see {@linkcode Trainer.timings}). */
export interface StepTimings {
  /** Steps counted. */
  steps: number;
  /** Waiting for the next batch (the prefetch worker, or building it here). */
  batchWaitMs: number;
  /** Waiting for the replicas' micro-batches after this thread's own were done. */
  replicaWaitMs: number;
  /** Steps whose micro-batches were shared with the replicas. */
  replicaSteps: number;
  /** The optimizer's update and the moving average. */
  updateMs: number;
}

/** What one epoch of training measured. */
export interface EpochTrainResult {
  trainLoss: number;
  trainAcc: number;
  lr: number;
  images: number;
  seconds: number;
}

/**
 * Where training stands inside an epoch: enough to continue it exactly. The data order is
 * not stored: it is derived again from the seed and the epoch.
 */
export interface EpochProgress {
  /** Zero-based epoch. */
  epoch: number;
  /** Steps of this epoch already taken. */
  step: number;
  lossSum: number;
  correct: number;
  images: number;
  seconds: number;
  lr: number;
  /** State of the `dropout/<epoch>` stream after those steps. */
  dropoutRng: RngState;
  /** State of the `augment/<epoch>` stream after those steps. */
  augmentRng: RngState;
}

/** Options of {@linkcode Trainer.trainEpoch}. */
export interface TrainEpochOptions {
  onStep?: (e: StepEvent) => void;
  /** Continue an epoch from here instead of its start. */
  resume?: EpochProgress;
  /** Asked before every step; true stops the epoch after the step in progress. */
  shouldStop?: () => boolean;
}

/** An epoch either finished or was stopped part-way. */
export type EpochOutcome =
  | { done: true; result: EpochTrainResult }
  | { done: false; progress: EpochProgress };

/** Owns the optimizer and the schedule of one run. */
export class Trainer {
  readonly config: Config;
  readonly model: VisionTransformer;
  readonly train: ImageSet;
  readonly norm: Normalization;
  readonly optimizer: VitOptimizer;
  /** The parameters that train (train.freeze leaves the others out), in declaration order. */
  readonly trainable: readonly Param[];
  readonly stepsPerEpoch: number;
  readonly schedule: ScheduleOptions;
  /** The weights' moving average, when train.ema_decay > 0. */
  readonly ema: ModelEma | null;
  readonly #augment: boolean;
  readonly #batches: BatchSource;
  #pool: ReplicaPool | null = null;
  #poolPaused = false;
  /** Values in one packed set of gradients (every trainable parameter's). */
  readonly #gradFloats: number;
  /** The next batch, taken during the step before it, and the replicas' share of it when sent. */
  #ahead: { next: Awaited<ReturnType<BatchSource["next"]>>; remote: _Dispatch | null } | null = null;
  /**
   * Milliseconds spent, summed over the steps so far, where a step's time goes besides its
   * kernels: waiting for the next batch, waiting for replicas, and the update (optimizer and
   * EMA). `bench` reports them per step.
   */
  readonly timings: StepTimings = {
    steps: 0,
    batchWaitMs: 0,
    replicaWaitMs: 0,
    replicaSteps: 0,
    updateMs: 0,
  };

  /**
   * @param config resolved config
   * @param model the model to train
   * @param train the training split
   */
  constructor(config: Config, model: VisionTransformer, train: ImageSet) {
    this.config = config;
    this.model = model;
    this.train = train;
    this.norm = { mean: config.data.mean, std: config.data.std };
    const t = config.train;
    // drop_last as timm: a short final batch would be noisier and would change the step count.
    this.stepsPerEpoch = Math.max(1, Math.floor(train.count / t.batch_size));
    this.schedule = {
      kind: t.schedule,
      lr: t.lr,
      minLr: t.min_lr,
      warmupSteps: Math.round(t.warmup_epochs * this.stepsPerEpoch),
      totalSteps: t.epochs * this.stepsPerEpoch,
    };
    const names = model.params.list().map((p) => p.name);
    const frozen = frozenNames(names, t.freeze);
    this.trainable = model.params.list().filter((p) => !frozen.has(p.name));
    this.#gradFloats = this.trainable.reduce((n, p) => n + p.variable.size, 0);
    this.ema = t.ema_decay > 0 ? new ModelEma(model, t.ema_decay, frozen) : null;
    this.#augment = augmentEnabled(config.augment);
    this.#batches = new BatchSource(train, this.norm, config.augment, config.run.prefetch);
    this.optimizer = optimizerFromConfig(t, names, model.shape.depth);
  }

  /**
   * Trains one epoch, or the rest of one.
   * @param epoch zero-based epoch index
   * @param options step callback, a position to resume from, a stop request
   * @returns the epoch's metrics, or where it stopped
   * @throws {DivergedError} when the loss or the gradient norm stops being finite
   */
  async trainEpoch(epoch: number, options: TrainEpochOptions = {}): Promise<EpochOutcome> {
    const run = this.#beginEpoch(epoch, options.resume);
    for (let s = run.step; s < this.stepsPerEpoch; s++) {
      await run.yieldToEventLoop();
      if (options.shouldStop?.()) {
        this.#cancelAhead();
        return { done: false, progress: run.progress(s) };
      }
      const globalStep = epoch * this.stepsPerEpoch + s;
      run.lr = learningRate(globalStep, this.schedule);
      this.optimizer.lr = run.lr;
      // The batch and the replicas' share of it may have been handed out during the last step.
      const ahead = this.#ahead;
      this.#ahead = null;
      const batchStart = performance.now();
      const next = ahead?.next ?? await this.#batches.next();
      this.timings.batchWaitMs += performance.now() - batchStart;
      if (next.augmentRng) run.augmentRng = next.augmentRng;
      const last = s + 1 >= this.stepsPerEpoch;
      const { loss, correct } = await this.#step(next.batch, run.rng, epoch, globalStep, ahead?.remote ?? null, last);
      run.add(loss, correct, next.batch.labels.length);
      options.onStep?.(run.event(s, globalStep, loss, correct / next.batch.labels.length));
    }
    return { done: true, result: run.result() };
  }

  /** Sets up an epoch (or the rest of one): data order, random streams, running sums, batches. */
  #beginEpoch(epoch: number, resume: EpochProgress | undefined): _EpochRun {
    // A batch taken ahead by a stopped epoch belongs to that epoch's plan, not to this one.
    this.#cancelAhead();
    this.#ahead = null;
    if (resume && resume.epoch !== epoch) throw new Error(`resume position is in epoch ${resume.epoch}, not ${epoch}`);
    const t = this.config.train;
    const order = Rng.fromSeed(t.seed, `shuffle/${epoch}`).permutation(this.train.count);
    const run = new _EpochRun(epoch, t.epochs, this.stepsPerEpoch, t.seed, resume);
    this.#batches.startEpoch({
      epoch,
      order,
      batch: Math.min(t.batch_size, this.train.count),
      fromStep: run.step,
      toStep: this.stepsPerEpoch,
      augmentRng: this.#augment ? run.augmentRng : null,
    });
    return run;
  }

  /**
   * One optimizer step on one batch: forward, loss, backward, a finite check, the update.
   * @returns the batch's mean loss and its count of correct predictions
   */
  async #step(
    batch: HostBatch,
    rng: Rng,
    epoch: number,
    globalStep: number,
    sent: _Dispatch | null,
    lastInEpoch: boolean,
  ): Promise<{ loss: number; correct: number }> {
    const t = this.config.train;
    const micro = t.micro_batch > 0 && t.micro_batch < batch.labels.length ? t.micro_batch : 0;
    const out: { stats: tf.Tensor1D; grads: tf.Tensor[]; mirrored?: boolean } = micro === 0
      ? this.#wholeBatch(batch, rng)
      : await this.#microBatches(batch, micro, epoch, globalStep, sent, lastInEpoch);
    // One read-back per step: concurrent reads of several scalars returned stale values
    // on WebGPU under Deno, and one transfer is cheaper everywhere.
    const [loss, correct, gradNorm] = Array.from(await out.stats.data()) as [number, number, number];
    // Gradients are applied only after this check, so a bad step never reaches the weights.
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      tf.dispose(out);
      const what = Number.isFinite(loss) ? `the gradient norm is ${gradNorm}` : `the loss is ${loss}`;
      throw new DivergedError(epoch + 1, globalStep + 1, what);
    }
    // Clipping is a factor the optimizer folds into its update, from the norm just read.
    const updateStart = performance.now();
    this.optimizer.applyGradients(this.trainable, out.grads, clipScale(gradNorm, t.grad_clip));
    // The replicas applied the same update to their copies (they computed this step).
    if (out.mirrored) this.#pool!.inSyncAt = this.optimizer.step;
    tf.dispose(out);
    this.ema?.update(this.model);
    this.timings.updateMs += performance.now() - updateStart;
    this.timings.steps++;
    return { loss, correct };
  }

  /** The whole batch at once: `stats` [3] is loss, correct, gradient norm. */
  #wholeBatch(batch: HostBatch, rng: Rng): { stats: tf.Tensor1D; grads: tf.Tensor[] } {
    const sum = new GradSum();
    const smoothing = this.config.train.label_smoothing;
    sum.add(() => microBatchGrads(this.model, this.train, batch, rng, 1, smoothing, this.trainable));
    return sum.finish();
  }

  /**
   * The batch as micro-batches of `micro` examples, in order, each with dropout and drop-path
   * masks from its own stream, computed here or, with replicas, side by side on every core.
   * Their gradients are summed in micro-batch order whoever computed them, so the bytes do not
   * depend on the number of replicas.
   */
  async #microBatches(
    batch: HostBatch,
    micro: number,
    epoch: number,
    globalStep: number,
    sent: _Dispatch | null,
    lastInEpoch: boolean,
  ): Promise<{ stats: tf.Tensor1D; grads: tf.Tensor[]; mirrored?: boolean }> {
    const parts = cutBatch(batch, micro);
    const weight = micro / batch.labels.length;
    const remote = sent ?? this.#dispatch(parts, weight, {
      epoch,
      globalStep,
      lr: this.optimizer.lr,
      optStep: this.optimizer.step,
    });
    if (remote) this.timings.replicaSteps++;
    const ownEnd = remote?.ownEnd ?? parts.length;
    const seed = this.config.train.seed;
    const smoothing = this.config.train.label_smoothing;
    const sum = new GradSum();
    for (let m = 0; m < ownEnd; m++) {
      const rng = microBatchRng(seed, epoch, globalStep, m);
      sum.add(() => microBatchGrads(this.model, this.train, parts[m]!, rng, weight, smoothing, this.trainable));
    }
    if (!remote) return sum.finish();
    // The replicas update their own copies: each gets this thread's block now, summed, and the
    // other replicas' micro-batches once they are here.
    const head = sum.packed(ownEnd - 1, remote.head);
    for (let i = 0; i < remote.blocks.length; i++) {
      this.#pool!.sendGrads(i, { token: remote.token, head });
    }
    // The next step's micro-batches go out now, within the epoch: each replica starts them as
    // soon as its copy has this step's update, without waiting for this thread's update.
    if (!lastInEpoch) await this.#sendAhead(micro, epoch, globalStep + 1);
    const waitStart = performance.now();
    const results = await remote.results;
    this.timings.replicaWaitMs += performance.now() - waitStart;
    const shapes = this.trainable.map((p) => p.variable.shape);
    for (const r of results) sum.addPacked(r, shapes);
    if (remote.blocks.length > 1) {
      remote.blocks.forEach((block, i) => {
        const mine = new Set(block.map((b) => b.m));
        this.#pool!.sendGrads(i, { token: remote.token, rest: results.filter((r) => !mine.has(r.m)) });
      });
    }
    return { ...sum.finish(), mirrored: true };
  }

  /**
   * Sends each replica its contiguous block of micro-batches, with this thread's weights and
   * optimizer state when their copies may differ; this thread (replica 0) keeps the first block.
   * @returns where this thread's block ends, the step's token, each replica's block and their
   *   results to come; null without replicas
   */
  #dispatch(
    parts: HostBatch[],
    weight: number,
    step: { epoch: number; globalStep: number; lr: number; optStep: number },
  ): _Dispatch | null {
    const pool = this.#pool;
    if (pool === null || this.#poolPaused) return null;
    const replicas = pool.size + 1;
    const start = (r: number) => Math.floor((r * parts.length) / replicas);
    const blocks = Array.from(
      { length: replicas - 1 },
      (_, i) => parts.slice(start(i + 1), start(i + 2)).map((part, j) => ({ m: start(i + 1) + j, part, weight })),
    );
    // A step sent ahead finds the copies one update further than now, as this thread will be.
    const ahead = step.optStep > this.optimizer.step;
    const sync = pool.inSyncAt === step.optStep || ahead ? undefined : this.#mirrorState();
    const sent = pool.compute({ ...step, total: parts.length, ...(sync ? { sync } : {}) }, blocks, this.#gradFloats);
    return { ownEnd: start(1), blocks, ...sent };
  }

  /**
   * Takes the next batch now and, when the replicas' copies will have this step's update, hands
   * them their micro-batches of it (the next step's learning rate, the optimizer one update on).
   */
  async #sendAhead(micro: number, epoch: number, globalStep: number): Promise<void> {
    const batchStart = performance.now();
    const next = await this.#batches.next();
    this.timings.batchWaitMs += performance.now() - batchStart;
    const n = next.batch.labels.length;
    // The replicas compute this step, so their copies will have its update as this thread will.
    const remote = micro < n
      ? this.#dispatch(cutBatch(next.batch, micro), micro / n, {
        epoch,
        globalStep,
        lr: learningRate(globalStep, this.schedule),
        optStep: this.optimizer.step + 1,
      })
      : null;
    this.#ahead = { next, remote };
  }

  /** Withdraws micro-batches sent ahead for a step that will not run on the replicas. */
  #cancelAhead(): void {
    const ahead = this.#ahead;
    if (!ahead?.remote) return;
    this.#pool?.cancel(ahead.remote.token);
    this.#ahead = { next: ahead.next, remote: null };
  }

  /** This thread's weights and optimizer state, for replicas whose copies may differ from them. */
  #mirrorState(): MirrorState {
    const { step, slots } = this.optimizer.state();
    return {
      // Replicas run on CPU backends only, where a synchronous read is a copy out of memory.
      weights: this.model.params.list().map((p) => p.variable.dataSync() as Float32Array),
      step,
      slots: [...slots].map(([name, list]) => [name, list.map((t) => t.dataSync() as Float32Array)]),
    };
  }

  /**
   * Starts the replicas `run.workers` asks for, when the step is cut into micro-batches on a CPU
   * backend; each replica (this thread included) then uses one OpenBLAS thread.
   * @param backend the backend the run initialised
   * @returns how many replicas compute each step (1: this thread alone)
   */
  async startReplicas(backend: Exclude<BackendName, "auto">): Promise<number> {
    const t = this.config.train;
    const micro = t.micro_batch > 0 && t.micro_batch < t.batch_size;
    // Micro-batched runs use one thread a product, so their bytes are the same at any replica count.
    if (backend === "blas") capBlasThreads(micro ? 1 : Infinity);
    if (!micro) return 1;
    if (!["cpu", "wasm", "blas"].includes(backend)) return 1;
    const wanted = this.config.run.workers === "auto" ? navigator.hardwareConcurrency || 1 : this.config.run.workers;
    const replicas = Math.min(wanted, t.batch_size / t.micro_batch);
    if (replicas <= 1) return 1;
    const { height, width, channels, numClasses } = this.train;
    this.#pool = await ReplicaPool.start(replicas - 1, {
      kind: "init",
      config: this.config,
      backend,
      shape: { height, width, channels, numClasses },
    });
    return replicas;
  }

  /**
   * Whether the steps that follow hand micro-batches to the replicas (true after
   * {@linkcode startReplicas}) or compute them all on this thread, as `run.workers=1` would.
   * The bytes are the same either way; `bench` alternates the two to time them under the same
   * load, since a shared machine's speed can drift by more than the replicas gain.
   */
  set replicasInUse(on: boolean) {
    this.#poolPaused = !on;
    if (!on) this.#cancelAhead();
  }

  /**
   * The replicas on worker threads, when this run has them: evaluation shares its batches with
   * them (`evaluate`'s `replicas`), so validation too uses every core.
   */
  get evalReplicas(): EvalReplicas | null {
    return this.#pool;
  }

  /** Frees the optimizer state and the moving average (the model is the caller's). */
  dispose(): void {
    this.#batches.close();
    this.#pool?.close();
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}

/** An epoch in progress: its random streams, running sums and clock, restored from a resume position. */
class _EpochRun {
  readonly rng: Rng;
  /** The augment stream's state after the last batch taken: what a checkpoint must store. */
  augmentRng: RngState;
  readonly step: number;
  lr: number;
  #lossSum: number;
  #correct: number;
  #images: number;
  readonly #start: number;
  readonly #resumed: { images: number; seconds: number };
  #lastYield = performance.now();

  constructor(
    readonly epoch: number,
    readonly epochs: number,
    readonly stepsPerEpoch: number,
    seed: number,
    r: EpochProgress | undefined,
  ) {
    this.rng = r ? Rng.fromState(r.dropoutRng) : Rng.fromSeed(seed, `dropout/${epoch}`);
    this.augmentRng = r ? r.augmentRng : Rng.fromSeed(seed, `augment/${epoch}`).state();
    this.step = r?.step ?? 0;
    this.lr = r?.lr ?? 0;
    this.#lossSum = r?.lossSum ?? 0;
    this.#correct = r?.correct ?? 0;
    this.#images = r?.images ?? 0;
    this.#start = performance.now() - (r?.seconds ?? 0) * 1000;
    this.#resumed = { images: r?.images ?? 0, seconds: r?.seconds ?? 0 };
  }

  /**
   * On cpu and wasm every await resolves at once, so signal handlers and timers would never run
   * during an epoch: give the event loop a turn every 50 ms. Through setImmediate, not
   * `setTimeout(0)`: Deno's timers round up to whole milliseconds, and that turn took 2.1 ms,
   * about a twentieth of a step with replicas (0.002 ms this way; signals and timers still run).
   */
  async yieldToEventLoop(): Promise<void> {
    if (performance.now() - this.#lastYield <= 50) return;
    await new Promise((resolve) => setImmediate(resolve));
    this.#lastYield = performance.now();
  }

  add(loss: number, correct: number, count: number): void {
    this.#lossSum += loss * count;
    this.#correct += correct;
    this.#images += count;
  }

  #seconds(): number {
    return (performance.now() - this.#start) / 1000;
  }

  progress(step: number): EpochProgress {
    return {
      epoch: this.epoch,
      step,
      lossSum: this.#lossSum,
      correct: this.#correct,
      images: this.#images,
      seconds: this.#seconds(),
      lr: this.lr,
      dropoutRng: this.rng.state(),
      augmentRng: this.augmentRng,
    };
  }

  event(step: number, globalStep: number, loss: number, acc: number): StepEvent {
    const seconds = this.#seconds();
    return {
      epoch: this.epoch + 1,
      epochs: this.epochs,
      step: step + 1,
      stepsPerEpoch: this.stepsPerEpoch,
      globalStep: globalStep + 1,
      loss,
      acc,
      lr: this.lr,
      imagesPerSecond: (this.#images - this.#resumed.images) / (seconds - this.#resumed.seconds),
      seconds,
    };
  }

  result(): EpochTrainResult {
    const images = this.#images;
    return {
      trainLoss: this.#lossSum / images,
      trainAcc: this.#correct / images,
      lr: this.lr,
      images,
      seconds: this.#seconds(),
    };
  }
}

/**
 * A step's micro-batches handed to the replicas: where this thread's block ends, the step's token,
 * each replica's block, and their results to come.
 */
interface _Dispatch {
  ownEnd: number;
  token: number;
  /** Where this thread packs its block's summed gradients for the replicas. */
  head: Float32Array;
  blocks: { m: number; part: HostBatch; weight: number }[][];
  results: Promise<RemoteMicroGrads[]>;
}
