/** Evaluation of a model on a split: loss, accuracy and, on request, every example's logits. */
import * as tf from "@tensorflow/tfjs-core";
import { batchTensors, type HostBatch, hostBatch, type Normalization } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { EVAL } from "../model/context.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { correctCount, crossEntropy } from "./loss.ts";

/** Metrics of one evaluation. */
export interface EvalResult {
  /** Mean cross-entropy without label smoothing. */
  loss: number;
  acc: number;
  count: number;
  /** [count, K] row-major, when asked for. */
  logits?: Float32Array;
}

/** One evaluation batch's numbers: the same bytes whichever replica computed them. */
export interface BatchEval {
  /** The batch's mean loss (a float32 value). */
  loss: number;
  correct: number;
  /** [B, K] row-major, when asked for. */
  logits: Float32Array | null;
}

/**
 * Other replicas of the model (worker threads) that can evaluate batches side by side with this
 * thread; the training run's replica pool is one.
 */
export interface EvalReplicas {
  /** How many, besides this thread. */
  readonly size: number;
  /**
   * @param weights every parameter's values, in the model's order
   * @param perWorker the batches for replica 1, 2, …
   * @param logits whether to return each batch's logits
   * @returns each replica's results, in the order of its batches
   */
  evaluate(weights: Float32Array[], perWorker: HostBatch[][], logits: boolean): Promise<BatchEval[][]>;
}

/**
 * One batch's forward pass without dropout, as tensors to read: its mean loss, correct count
 * and logits. Call inside tf.tidy; replicas run exactly this.
 * @param model the model
 * @param shape the split's image and class shape
 * @param part the batch, normalised
 * @returns loss [], correct [] and logits [B, K]
 */
export function evalBatchTensors(
  model: VisionTransformer,
  shape: Pick<ImageSet, "height" | "width" | "channels" | "numClasses">,
  part: HostBatch,
): { loss: tf.Scalar; correct: tf.Scalar; logits: tf.Tensor2D } {
  const { x, y } = batchTensors(shape as ImageSet, part);
  const logits = model.apply(x, EVAL);
  return { loss: crossEntropy(logits, y), correct: correctCount(logits, y), logits };
}

/**
 * Runs the model over the first `limit` examples of a set without dropout, on this thread and,
 * given replicas, on theirs too: each takes a contiguous block of the batches, and the batches'
 * numbers are added in batch order, so the result does not depend on how many computed it.
 * @param model the model
 * @param set the split
 * @param norm per-channel normalisation
 * @param batchSize examples per forward pass
 * @param options `limit` examples (default all); `logits` to return them; `replicas` to share with
 * @returns loss, accuracy and count
 */
export async function evaluate(
  model: VisionTransformer,
  set: ImageSet,
  norm: Normalization,
  batchSize: number,
  options: { limit?: number; logits?: boolean; replicas?: EvalReplicas | null } = {},
): Promise<EvalResult> {
  const count = Math.min(set.count, options.limit ?? set.count);
  const k = model.shape.numClasses;
  const wantLogits = options.logits ?? false;
  const ranges: [number, number][] = [];
  for (let start = 0; start < count; start += batchSize) ranges.push([start, Math.min(count, start + batchSize)]);
  const host = ([start, end]: [number, number]) =>
    hostBatch(set, Int32Array.from({ length: end - start }, (_, i) => start + i), norm, null);
  const replicas = options.replicas && options.replicas.size > 0 && ranges.length > 1 ? options.replicas : null;
  const share = replicas ? replicas.size + 1 : 1;
  const first = (r: number) => Math.floor((r * ranges.length) / share);
  let remote: Promise<BatchEval[][]> | null = null;
  if (replicas) {
    // The replicas start first: this thread builds their batches, then computes its own block.
    const weights = model.params.list().map((p) => p.variable.dataSync() as Float32Array);
    const perWorker = Array.from({ length: share - 1 }, (_, r) => ranges.slice(first(r + 1), first(r + 2)).map(host));
    remote = replicas.evaluate(weights, perWorker, wantLogits);
  }
  const results: BatchEval[] = [];
  for (const range of ranges.slice(0, first(1))) {
    const out = tf.tidy(() => evalBatchTensors(model, set, host(range)));
    const [l, c, z] = await Promise.all([out.loss.data(), out.correct.data(), wantLogits ? out.logits.data() : null]);
    tf.dispose(out);
    results.push({ loss: l[0]!, correct: c[0]!, logits: z as Float32Array | null });
  }
  if (remote) results.push(...(await remote).flat());
  const allLogits = wantLogits ? new Float32Array(count * k) : undefined;
  let lossSum = 0;
  let correct = 0;
  results.forEach((r, i) => {
    const [start, end] = ranges[i]!;
    lossSum += r.loss * (end - start);
    correct += r.correct;
    if (allLogits && r.logits) allLogits.set(r.logits, start * k);
  });
  const result: EvalResult = { loss: count ? lossSum / count : NaN, acc: count ? correct / count : NaN, count };
  if (allLogits) result.logits = allLogits;
  return result;
}
