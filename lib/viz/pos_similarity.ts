/** How alike the learned position embeddings of the patches are (ViT paper, figure 7 centre). */

/**
 * Cosine similarity of every patch's position embedding with every other's. The class token's
 * row (the first) is left out: it has no place in the grid.
 * @param posEmbed the `pos_embed` parameter, [T, D] row-major (class token first)
 * @param tokens T
 * @returns [N, N] with N = T − 1, row-major; 0 where an embedding is all zeros
 * @example
 * ```ts
 * import { positionSimilarity } from "./pos_similarity.ts";
 * // Class token, then patches (1, 0), (0, 1) and (1, 1).
 * const sim = positionSimilarity(new Float32Array([9, 9, 1, 0, 0, 1, 1, 1]), 4);
 * if (sim[1] !== 0 || Math.abs(sim[2]! - Math.SQRT1_2) > 1e-12 || Math.abs(sim[8]! - 1) > 1e-12) throw new Error("wrong");
 * ```
 */
export function positionSimilarity(posEmbed: Float32Array, tokens: number): Float64Array {
  const d = posEmbed.length / tokens;
  if (!Number.isInteger(d)) throw new RangeError(`pos_embed has ${posEmbed.length} values, not ${tokens} rows`);
  const n = tokens - 1;
  const row = (i: number) => posEmbed.subarray((i + 1) * d, (i + 2) * d);
  const norms = Array.from({ length: n }, (_, i) => Math.sqrt(_dot(row(i), row(i))));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const denom = norms[i]! * norms[j]!;
      const s = denom > 0 ? Math.min(1, Math.max(-1, _dot(row(i), row(j)) / denom)) : 0;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

function _dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}
