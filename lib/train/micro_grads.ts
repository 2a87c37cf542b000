/**
 * One micro-batch's share of a step: its loss (weighted by its share of the batch), its correct
 * count and its gradients. The trainer and the replica workers run exactly this, so a micro-batch
 * gives the same bytes whichever thread computes it.
 */
import * as tf from "@tensorflow/tfjs-core";
import { batchTensors, type HostBatch } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import type { Param } from "../model/params.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { Rng } from "../random.ts";
import { correctCount, crossEntropy, softCrossEntropy } from "./loss.ts";

/**
 * What a micro-batch contributes to its step (a type, not an interface, so tf.tidy can return it).
 */
export type MicroGrads = {
  /** The mean loss times the micro-batch's share of the batch. */
  loss: tf.Scalar;
  /** Correct predictions (against the unmixed labels). */
  correct: tf.Scalar;
  /** One gradient per trainable parameter, in the parameters' order. */
  grads: tf.Tensor[];
};

/**
 * The random stream of micro-batch `m` of a step: its dropout and drop-path masks belong to it,
 * not to the thread that computes it.
 * @param seed the config's train.seed
 * @param epoch zero-based epoch
 * @param globalStep zero-based step of the run
 * @param m the micro-batch's index in the step
 * @returns the stream
 */
export function microBatchRng(seed: number, epoch: number, globalStep: number, m: number): Rng {
  return Rng.fromSeed(seed, `dropout/${epoch}/${globalStep}/${m}`);
}

/**
 * Forward, loss and backward of some examples. Call inside tf.tidy: the returned tensors are the
 * caller's to keep or dispose.
 * @param model the model (its current weights)
 * @param shape the split's image and class shape (for the tensors)
 * @param part the examples
 * @param rng the masks' stream
 * @param weight the examples' share of the batch
 * @param labelSmoothing train.label_smoothing
 * @param trainable the parameters to differentiate (train.freeze leaves some out); all by default
 * @returns loss, correct count and one gradient per trainable parameter, in their order
 */
export function microBatchGrads(
  model: VisionTransformer,
  shape: Pick<ImageSet, "height" | "width" | "channels" | "numClasses">,
  part: HostBatch,
  rng: Rng,
  weight: number,
  labelSmoothing: number,
  trainable: readonly Param[] = model.params.list(),
): MicroGrads {
  const vars = trainable.map((p) => p.variable);
  const { x, y, targets } = batchTensors(shape as ImageSet, part);
  let logits: tf.Tensor2D | null = null;
  const { value, grads } = tf.variableGrads(() => {
    logits = tf.keep(model.apply(x, { training: true, rng }));
    const loss = targets ? softCrossEntropy(logits, targets, labelSmoothing) : crossEntropy(logits, y, labelSmoothing);
    return weight === 1 ? loss : tf.mul(loss, weight) as tf.Scalar;
  }, vars);
  const kept = logits! as tf.Tensor2D;
  const correct = correctCount(kept, y);
  kept.dispose();
  return { loss: value, correct, grads: vars.map((v) => grads[v.name]!) };
}

/**
 * Cuts a batch into micro-batches of `micro` examples, in order (views, no copies).
 * @param batch the step's batch
 * @param micro examples per micro-batch; must divide the batch
 * @returns the micro-batches
 */
export function cutBatch(batch: HostBatch, micro: number): HostBatch[] {
  const n = batch.labels.length;
  const perImage = batch.pixels.length / n;
  const k = batch.targets ? batch.targets.length / n : 0;
  const parts: HostBatch[] = [];
  for (let a = 0; a < n; a += micro) {
    const b = Math.min(n, a + micro);
    parts.push({
      pixels: batch.pixels.subarray(a * perImage, b * perImage),
      labels: batch.labels.subarray(a, b),
      targets: batch.targets ? batch.targets.subarray(a * k, b * k) : null,
    });
  }
  return parts;
}
