/** Which examples the attention pictures draw. */

/**
 * A few examples that cover the classes: the first example of each class in split order, then
 * the second of each, and so on, so neither a split sorted by class nor one interleaved by class
 * shows only some classes.
 * @param labels the split's labels (the first `count` are looked at)
 * @param count examples run
 * @param n how many to pick (at most count)
 * @param k the number of classes
 * @returns positions in the split, round by round, classes in label order within a round
 * @example
 * ```ts
 * import { pickExamples } from "./pick.ts";
 * if (pickExamples(Int32Array.of(0, 0, 0, 1, 1, 2), 6, 4, 3).join() !== "0,3,5,1") throw new Error("wrong");
 * ```
 */
export function pickExamples(labels: Int32Array, count: number, n: number, k: number): number[] {
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < count; i++) byClass[labels[i]!]?.push(i);
  const picked: number[] = [];
  for (let round = 0; picked.length < n; round++) {
    for (const positions of byClass) {
      if (round < positions.length && picked.length < n) picked.push(positions[round]!);
    }
  }
  return picked;
}
