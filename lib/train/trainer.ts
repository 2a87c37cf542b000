/**
 * The training loop: one epoch at a time, tidy and dispose every step.
 *
 * Random streams are derived per epoch (`shuffle/<epoch>`, `dropout/<epoch>`) from the seed,
 * so an epoch's data order and masks depend only on the seed and the epoch number.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Config } from "../config/schema.ts";
import { makeBatch, type Normalization } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { RunError } from "../errors.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { Rng } from "../random.ts";
import { clipByGlobalNorm } from "./clip.ts";
import { correctCount, crossEntropy } from "./loss.ts";
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

/** Owns the optimizer and the schedule of one run. */
export class Trainer {
  readonly config: Config;
  readonly model: VisionTransformer;
  readonly train: ImageSet;
  readonly norm: Normalization;
  readonly optimizer: VitOptimizer;
  readonly stepsPerEpoch: number;
  readonly schedule: ScheduleOptions;

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
    const decay = new Set<string>();
    for (const v of model.params.variables()) {
      const spec = model.params.specs.find((s) => s.name === model.params.nameOf(v.name))!;
      if (spec.decay) decay.add(v.name);
    }
    this.optimizer = new VitOptimizer({
      kind: t.optimizer,
      lr: t.lr,
      weightDecay: t.weight_decay,
      betas: [t.betas[0]!, t.betas[1]!],
      eps: t.eps,
      momentum: t.momentum,
      decay,
    });
  }

  /**
   * Trains one epoch.
   * @param epoch zero-based epoch index
   * @param onStep called after each step with its metrics
   * @returns mean training loss and accuracy, last lr, images and seconds
   * @throws {RunError} when the loss stops being finite
   */
  async trainEpoch(epoch: number, onStep?: (e: StepEvent) => void): Promise<EpochTrainResult> {
    const t = this.config.train;
    const seed = t.seed;
    const order = Rng.fromSeed(seed, `shuffle/${epoch}`).permutation(this.train.count);
    const ctx = { training: true, rng: Rng.fromSeed(seed, `dropout/${epoch}`) };
    const vars = this.model.params.variables();
    const batch = Math.min(t.batch_size, this.train.count);
    const start = performance.now();
    let lossSum = 0;
    let correct = 0;
    let images = 0;
    let lr = 0;
    for (let s = 0; s < this.stepsPerEpoch; s++) {
      const globalStep = epoch * this.stepsPerEpoch + s;
      lr = learningRate(globalStep, this.schedule);
      this.optimizer.lr = lr;
      const indices = order.subarray(s * batch, (s + 1) * batch);
      const out = tf.tidy(() => {
        const { x, y } = makeBatch(this.train, indices, this.norm);
        let logits: tf.Tensor2D | null = null;
        const { value, grads } = tf.variableGrads(() => {
          logits = tf.keep(this.model.apply(x, ctx));
          return crossEntropy(logits, y, t.label_smoothing);
        }, vars);
        const kept = logits! as tf.Tensor2D;
        const c = correctCount(kept, y);
        kept.dispose();
        const { grads: clipped, norm } = clipByGlobalNorm(grads, t.grad_clip);
        this.optimizer.applyGradients(clipped);
        return { loss: value, correct: c, norm };
      });
      const [l, c, n] = await Promise.all([out.loss.data(), out.correct.data(), out.norm.data()]);
      tf.dispose(out);
      const loss = l[0]!;
      if (!Number.isFinite(loss) || !Number.isFinite(n[0]!)) {
        const what = Number.isFinite(loss) ? `gradient norm is ${n[0]}` : `loss is ${loss}`;
        throw new RunError(
          `training diverged at epoch ${epoch + 1}, step ${
            globalStep + 1
          }: ${what}; lower train.lr or raise train.warmup_epochs`,
        );
      }
      lossSum += loss * indices.length;
      correct += c[0]!;
      images += indices.length;
      if (onStep) {
        const seconds = (performance.now() - start) / 1000;
        onStep({
          epoch: epoch + 1,
          epochs: t.epochs,
          step: s + 1,
          stepsPerEpoch: this.stepsPerEpoch,
          globalStep: globalStep + 1,
          loss,
          acc: c[0]! / indices.length,
          lr,
          imagesPerSecond: images / seconds,
          seconds,
        });
      }
    }
    const seconds = (performance.now() - start) / 1000;
    return { trainLoss: lossSum / images, trainAcc: correct / images, lr, images, seconds };
  }

  /** Frees the optimizer state (the model is the caller's). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
