/**
 * Attention rollout (Abnar & Zuidema 2020): how much each input patch flows into the pooled
 * token through every layer, heads averaged and the residual path counted as an identity.
 */

/**
 * The rollout of one image's attention.
 *
 * Per layer: average the heads, add the identity (the residual connection), renormalise each
 * row to sum 1; multiply the layers from the first to the last (R = Â_L ⋯ Â_1). The class
 * token's row of R over the patch columns is the map; a mean-pooled model reads the mean of the
 * patch rows instead, since its head sees the mean of the patch tokens.
 * @param layers one [H, T, T] array per block, first block first (row = query, column = key)
 * @param heads H
 * @param tokens T: the class token, then the patches
 * @param pool `cls` or `mean`, the model's pooling
 * @returns [T − 1] weights of the patches, in the patch grid's row-major order
 * @example
 * ```ts
 * import { attentionRollout } from "./rollout.ts";
 * // One layer, one head, uniform attention over 3 tokens: (A + I) / 2 has rows [2/3, 1/6, 1/6] etc.
 * const map = attentionRollout([new Float32Array(9).fill(1 / 3)], 1, 3, "cls");
 * if (Math.abs(map[0]! - 1 / 6) > 1e-6 || map.length !== 2) throw new Error("wrong");
 * ```
 */
export function attentionRollout(
  layers: readonly Float32Array[],
  heads: number,
  tokens: number,
  pool: "cls" | "mean",
): Float64Array {
  const t = tokens;
  let rollout = _identity(t);
  for (const layer of layers) {
    if (layer.length !== heads * t * t) {
      throw new RangeError(`attention layer has ${layer.length} values, expected ${heads}×${t}×${t}`);
    }
    rollout = _matMul(_residualAverage(layer, heads, t), rollout, t);
  }
  const out = new Float64Array(t - 1);
  const rows = pool === "cls" ? [0] : Array.from({ length: t - 1 }, (_, i) => i + 1);
  for (const r of rows) {
    for (let j = 1; j < t; j++) out[j - 1]! += rollout[r * t + j]! / rows.length;
  }
  return out;
}

/** mean over heads of A, plus I, rows renormalised: [T, T]. */
function _residualAverage(layer: Float32Array, heads: number, t: number): Float64Array {
  const a = _identity(t);
  for (let h = 0; h < heads; h++) {
    for (let k = 0; k < t * t; k++) a[k]! += layer[h * t * t + k]! / heads;
  }
  for (let i = 0; i < t; i++) {
    let sum = 0;
    for (let j = 0; j < t; j++) sum += a[i * t + j]!;
    for (let j = 0; j < t; j++) a[i * t + j]! /= sum;
  }
  return a;
}

function _identity(t: number): Float64Array {
  const a = new Float64Array(t * t);
  for (let i = 0; i < t; i++) a[i * t + i] = 1;
  return a;
}

/** a · b for square [T, T] matrices. */
function _matMul(a: Float64Array, b: Float64Array, t: number): Float64Array {
  const out = new Float64Array(t * t);
  for (let i = 0; i < t; i++) {
    for (let k = 0; k < t; k++) {
      const aik = a[i * t + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < t; j++) out[i * t + j]! += aik * b[k * t + j]!;
    }
  }
  return out;
}
