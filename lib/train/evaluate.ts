/** Evaluation of a model on a split: loss, accuracy and, on request, every example's logits. */
import * as tf from "@tensorflow/tfjs-core";
import { makeBatch, type Normalization } from "../data/batch.ts";
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

/**
 * Runs the model over the first `limit` examples of a set without dropout.
 * @param model the model
 * @param set the split
 * @param norm per-channel normalisation
 * @param batchSize examples per forward pass
 * @param options `limit` examples (default all); `logits` to return them
 * @returns loss, accuracy and count
 */
export async function evaluate(
  model: VisionTransformer,
  set: ImageSet,
  norm: Normalization,
  batchSize: number,
  options: { limit?: number; logits?: boolean } = {},
): Promise<EvalResult> {
  const count = Math.min(set.count, options.limit ?? set.count);
  const k = model.shape.numClasses;
  const allLogits = options.logits ? new Float32Array(count * k) : undefined;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const indices = Int32Array.from({ length: end - start }, (_, i) => start + i);
    const out = tf.tidy(() => {
      const { x, y } = makeBatch(set, indices, norm);
      const logits = model.apply(x, EVAL);
      return { loss: crossEntropy(logits, y), correct: correctCount(logits, y), logits };
    });
    const [l, c, z] = await Promise.all([out.loss.data(), out.correct.data(), allLogits ? out.logits.data() : null]);
    tf.dispose(out);
    lossSum += l[0]! * (end - start);
    correct += c[0]!;
    if (allLogits && z) allLogits.set(z as Float32Array, start * k);
  }
  const result: EvalResult = { loss: count ? lossSum / count : NaN, acc: count ? correct / count : NaN, count };
  if (allLogits) result.logits = allLogits;
  return result;
}
