/** The confusion matrix of a split and the per-class metrics read from it. */

/**
 * Counts of (true class, predicted class) pairs.
 * @param labels [count] true classes
 * @param predictions [count] predicted classes
 * @param k the number of classes
 * @returns [K, K] row-major: row = true class, column = predicted class
 * @example
 * ```ts
 * import { confusionMatrix } from "./confusion.ts";
 * const m = confusionMatrix(Int32Array.of(0, 0, 1), Int32Array.of(0, 1, 1), 2);
 * if (m.join() !== "1,1,0,1") throw new Error("wrong");
 * ```
 */
export function confusionMatrix(labels: Int32Array, predictions: Int32Array, k: number): Int32Array {
  const m = new Int32Array(k * k);
  for (let i = 0; i < labels.length; i++) m[labels[i]! * k + predictions[i]!]!++;
  return m;
}

/** One class's row of `per_class.csv`. */
export interface ClassMetrics {
  /** The label. */
  label: number;
  /** Examples of the class in the split. */
  support: number;
  /** Of those predicted as the class, the share that is: NaN when none was. */
  precision: number;
  /** Of the class's examples, the share predicted as it: NaN when it has none. */
  recall: number;
  /** Harmonic mean of precision and recall: NaN when either is. */
  f1: number;
  /** One class against the rest: (true positives + true negatives) / all examples. */
  accuracy: number;
}

/**
 * Precision, recall, F1 and one-vs-rest accuracy of every class.
 * @param matrix from {@linkcode confusionMatrix}
 * @param k the number of classes
 * @returns one entry per class, by label
 * @example
 * ```ts
 * import { classMetrics, confusionMatrix } from "./confusion.ts";
 * const [a] = classMetrics(confusionMatrix(Int32Array.of(0, 0, 1), Int32Array.of(0, 1, 1), 2), 2);
 * if (a!.precision !== 1 || a!.recall !== 0.5 || a!.accuracy !== 2 / 3) throw new Error("wrong");
 * ```
 */
export function classMetrics(matrix: Int32Array, k: number): ClassMetrics[] {
  const total = matrix.reduce((s, x) => s + x, 0);
  return Array.from({ length: k }, (_, c) => {
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += matrix[c * k + j]!;
      predicted += matrix[j * k + c]!;
    }
    const tp = matrix[c * k + c]!;
    const precision = predicted ? tp / predicted : NaN;
    const recall = support ? tp / support : NaN;
    const sum = precision + recall;
    const f1 = sum > 0 ? (2 * precision * recall) / sum : Number.isNaN(sum) ? NaN : 0;
    const accuracy = total ? (total - support - predicted + 2 * tp) / total : NaN;
    return { label: c, support, precision, recall, f1, accuracy };
  });
}

/**
 * The most confidently wrong examples.
 * @param labels true classes
 * @param predictions predicted classes
 * @param confidence the predicted class's softmax probability
 * @param n how many to return
 * @returns positions in the split, highest confidence first (ties by position)
 * @example
 * ```ts
 * import { confidentErrors } from "./confusion.ts";
 * const wrong = confidentErrors(Int32Array.of(0, 1, 1), Int32Array.of(1, 1, 0), Float32Array.of(0.6, 0.9, 0.8), 5);
 * if (wrong.join() !== "2,0") throw new Error("wrong");
 * ```
 */
export function confidentErrors(
  labels: Int32Array,
  predictions: Int32Array,
  confidence: Float32Array,
  n: number,
): number[] {
  const wrong: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== predictions[i]) wrong.push(i);
  return wrong.sort((a, b) => confidence[b]! - confidence[a]! || a - b).slice(0, n);
}
