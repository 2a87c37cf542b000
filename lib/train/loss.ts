/** Cross-entropy with label smoothing, and accuracy. */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Mean cross-entropy against targets smoothed as timm's LabelSmoothingCrossEntropy:
 * (1 − s)·onehot + s/K.
 * @param logits [B, K]
 * @param labels [B] int32
 * @param smoothing s in [0, 1)
 * @returns scalar loss
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const logp = tf.logSoftmax(logits); // [B, K]
    const onehot = tf.oneHot(labels, k); // [B, K]
    const nll = tf.neg(tf.sum(tf.mul(logp, onehot), 1)); // [B]
    if (smoothing === 0) return tf.mean(nll);
    const smooth = tf.neg(tf.mean(logp, 1)); // [B]
    return tf.mean(tf.add(tf.mul(nll, 1 - smoothing), tf.mul(smooth, smoothing)));
  });
}

/**
 * @param logits [B, K]
 * @param labels [B] int32
 * @returns scalar count of rows whose argmax equals the label
 */
export function correctCount(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), "float32")));
}
