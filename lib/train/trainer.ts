/**
 * The training loop: one epoch at a time, tidy and dispose every step.
 *
 * Random streams are derived per epoch (`shuffle/<epoch>`, `dropout/<epoch>`) from the seed,
 * so an epoch's data order and masks depend only on the seed and the epoch number.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Config } from "../config/schema.ts";
import { augmentEnabled } from "../data/augment.ts";
import { batchTensors, type Normalization } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { BatchSource } from "../data/prefetch.ts";
import { DivergedError } from "../errors.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { Rng, type RngState } from "../random.ts";
import { clipScale, globalNorm } from "./clip.ts";
import { ModelEma } from "./ema.ts";
import { correctCount, crossEntropy, softCrossEntropy } from "./loss.ts";
import { VitOptimizer } from "./optimizer.ts";
import { learningRate, type ScheduleOptions } from "./schedule.ts";

/** Reported after every optimizer step. */
export interface StepEvent {
  /** One-based epoch. */
  epoch: number;
  epochs: number;
  /** One-based step within the epoch. */
  step: number;
  stepsPerEpoch: number;
  /** Optimizer steps since the run began. */
  globalStep: number;
  loss: number;
  acc: number;
  lr: number;
  imagesPerSecond: number;
  /** Seconds since the epoch began. */
  seconds: number;
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
  readonly stepsPerEpoch: number;
  readonly schedule: ScheduleOptions;
  /** The weights' moving average, when train.ema_decay > 0. */
  readonly ema: ModelEma | null;
  readonly #augment: boolean;
  readonly #batches: BatchSource;

  /**
   * @param config resolved config
   * @param model the model to train
   * @param train the training split
   */
  constructor(config: Config, model: VisionTransformer, train: ImageSet) {
    this.config = config;
    this.model = model;
    this.train = train;
    this.norm = { mean: config.data.mean!, std: config.data.std! };
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
    this.ema = t.ema_decay > 0 ? new ModelEma(model, t.ema_decay) : null;
    this.#augment = augmentEnabled(config.augment);
    this.#batches = new BatchSource(train, this.norm, config.augment, config.run.prefetch);
    this.optimizer = new VitOptimizer({
      kind: t.optimizer,
      lr: t.lr,
      weightDecay: t.weight_decay,
      betas: [t.betas[0]!, t.betas[1]!],
      eps: t.eps,
      momentum: t.momentum,
    });
  }

  /**
   * Trains one epoch, or the rest of one.
   * @param epoch zero-based epoch index
   * @param options step callback, a position to resume from, a stop request
   * @returns the epoch's metrics, or where it stopped
   * @throws {DivergedError} when the loss or the gradient norm stops being finite
   */
  async trainEpoch(epoch: number, options: TrainEpochOptions = {}): Promise<EpochOutcome> {
    const t = this.config.train;
    const seed = t.seed;
    const order = Rng.fromSeed(seed, `shuffle/${epoch}`).permutation(this.train.count);
    const r = options.resume;
    if (r && r.epoch !== epoch) throw new Error(`resume position is in epoch ${r.epoch}, not ${epoch}`);
    const rng = r ? Rng.fromState(r.dropoutRng) : Rng.fromSeed(seed, `dropout/${epoch}`);
    // The augment stream's state after the last batch taken: what a checkpoint must store.
    let augState = r ? r.augmentRng : Rng.fromSeed(seed, `augment/${epoch}`).state();
    const ctx = { training: true, rng };
    const params = this.model.params.list();
    const vars = params.map((p) => p.variable);
    const batch = Math.min(t.batch_size, this.train.count);
    const start = performance.now() - (r?.seconds ?? 0) * 1000;
    let lossSum = r?.lossSum ?? 0;
    let correct = r?.correct ?? 0;
    let images = r?.images ?? 0;
    let lr = r?.lr ?? 0;
    let lastYield = performance.now();
    this.#batches.startEpoch({
      epoch,
      order,
      batch,
      fromStep: r?.step ?? 0,
      toStep: this.stepsPerEpoch,
      augmentRng: this.#augment ? augState : null,
    });
    for (let s = r?.step ?? 0; s < this.stepsPerEpoch; s++) {
      // On cpu and wasm every await resolves at once, so signal handlers and timers would never
      // run during an epoch: give the event loop a turn every 50 ms.
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
      if (options.shouldStop?.()) {
        const seconds = (performance.now() - start) / 1000;
        return {
          done: false,
          progress: {
            epoch,
            step: s,
            lossSum,
            correct,
            images,
            seconds,
            lr,
            dropoutRng: rng.state(),
            augmentRng: augState,
          },
        };
      }
      const globalStep = epoch * this.stepsPerEpoch + s;
      lr = learningRate(globalStep, this.schedule);
      this.optimizer.lr = lr;
      // Augmentation runs in JS before the tensors exist; its draws come from their own stream.
      const next = await this.#batches.next();
      if (next.augmentRng) augState = next.augmentRng;
      const count = next.batch.labels.length;
      const out = tf.tidy(() => {
        const { x, y, targets } = batchTensors(this.train, next.batch);
        let logits: tf.Tensor2D | null = null;
        const { value, grads } = tf.variableGrads(() => {
          logits = tf.keep(this.model.apply(x, ctx));
          return targets
            ? softCrossEntropy(logits, targets, t.label_smoothing)
            : crossEntropy(logits, y, t.label_smoothing);
        }, vars);
        const kept = logits! as tf.Tensor2D;
        const c = correctCount(kept, y);
        kept.dispose();
        const norm = globalNorm(grads);
        // One read-back per step: concurrent reads of several scalars returned stale values
        // on WebGPU under Deno, and one transfer is cheaper everywhere.
        // [3]: loss, correct, grad norm; gradients in the parameters' order
        return { stats: tf.stack([value, c, norm]), grads: vars.map((v) => grads[v.name]!) };
      });
      const [loss, correctInBatch, gradNorm] = Array.from(await out.stats.data()) as [number, number, number];
      // Gradients are applied only after this check, so a bad step never reaches the weights.
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        tf.dispose(out);
        const what = Number.isFinite(loss) ? `the gradient norm is ${gradNorm}` : `the loss is ${loss}`;
        throw new DivergedError(epoch + 1, globalStep + 1, what);
      }
      // Clipping is a factor the optimizer folds into its update, from the norm just read.
      this.optimizer.applyGradients(params, out.grads, clipScale(gradNorm, t.grad_clip));
      tf.dispose(out);
      this.ema?.update(this.model);
      lossSum += loss * count;
      correct += correctInBatch;
      images += count;
      if (options.onStep) {
        const seconds = (performance.now() - start) / 1000;
        options.onStep({
          epoch: epoch + 1,
          epochs: t.epochs,
          step: s + 1,
          stepsPerEpoch: this.stepsPerEpoch,
          globalStep: globalStep + 1,
          loss,
          acc: correctInBatch / count,
          lr,
          imagesPerSecond: (images - (r?.images ?? 0)) / (seconds - (r?.seconds ?? 0)),
          seconds,
        });
      }
    }
    const seconds = (performance.now() - start) / 1000;
    return { done: true, result: { trainLoss: lossSum / images, trainAcc: correct / images, lr, images, seconds } };
  }

  /** Frees the optimizer state and the moving average (the model is the caller's). */
  dispose(): void {
    this.#batches.close();
    this.optimizer.dispose();
    this.ema?.dispose();
  }
}
