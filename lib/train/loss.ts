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
 * Mean cross-entropy against soft targets (mixup/cutmix), smoothed as (1 − s)·t + s/K, which is
 * what timm's SoftTargetCrossEntropy sees after its mixup applies smoothing.
 * @param logits [B, K]
 * @param targets [B, K] rows summing to 1
 * @param smoothing s in [0, 1)
 * @returns scalar loss
 */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D, smoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const t = smoothing === 0 ? targets : tf.add(tf.mul(targets, 1 - smoothing), smoothing / k); // [B, K]
    return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), t), 1)));
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
