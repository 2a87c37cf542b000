/**
 * Principal components of the patch-embedding filters (ViT paper, figure 7 left): the few
 * pixel patterns that most of the D filters are made of.
 */

/** What {@linkcode filterComponents} finds. */
export interface FilterComponents {
  /** The components, largest variance first, each a unit vector of F = C·P·P values laid out (C, Py, Px). */
  components: Float64Array[];
  /** Each component's share of the filters' total variance, in [0, 1]. */
  explained: number[];
}

/**
 * PCA of the filters: centred over the D filters, eigenvectors of their covariance by Jacobi
 * rotations (exact and deterministic), computed on the smaller of the F×F covariance and the D×D
 * Gram matrix. Each component's sign is chosen so that its largest entry is positive.
 * @param weight `patch_embed.proj`'s weight as vitlab holds it: [F, D] row-major, one filter per column
 * @param fanIn F
 * @param count how many components to return (at most min(F, D))
 * @returns the components and the variance they explain
 * @example
 * ```ts
 * import { filterComponents } from "./filters.ts";
 * // Three filters of two pixels, spread along (1, 1) only: one component carries all the variance.
 * const { components, explained } = filterComponents(new Float32Array([0, 1, 2, 0, 1, 2]), 2, 2);
 * if (Math.abs(components[0]![0]! - Math.SQRT1_2) > 1e-9 || Math.abs(explained[0]! - 1) > 1e-9) throw new Error("wrong");
 * ```
 */
export function filterComponents(weight: Float32Array, fanIn: number, count: number): FilterComponents {
  const f = fanIn;
  const d = weight.length / f;
  // x: [D, F], one centred filter per row.
  const x = new Float64Array(d * f);
  for (let p = 0; p < f; p++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += weight[p * d + j]! / d;
    for (let j = 0; j < d; j++) x[j * f + p] = weight[p * d + j]! - mean;
  }
  const useGram = d < f;
  const m = useGram ? d : f;
  const { values, vectors } = symmetricEigen(_gram(x, d, f, useGram), m);
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
  const components: Float64Array[] = [];
  const explained: number[] = [];
  for (const i of order.slice(0, Math.min(count, m))) {
    const v = vectors.subarray(i * m, (i + 1) * m);
    // Through the Gram matrix: an eigenvector u of X·Xᵀ gives the component Xᵀ·u.
    const c = useGram ? _rowCombination(x, v, d, f) : Float64Array.from(v);
    components.push(_unitWithPositivePeak(c));
    explained.push(total > 0 ? Math.max(0, values[i]!) / total : 0);
  }
  return { components, explained };
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations.
 * @param matrix [M, M] row-major, symmetric
 * @param m M
 * @returns the eigenvalues and the eigenvectors, [M, M] with vector i in row i
 */
export function symmetricEigen(matrix: Float64Array, m: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  const scale = a.reduce((s, x) => s + x * x, 0);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += a[p * m + q]! ** 2;
    if (off <= 1e-30 * scale || off === 0) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) _rotate(a, v, m, p, q);
    }
  }
  return { values: Array.from({ length: m }, (_, i) => a[i * m + i]!), vectors: v };
}

/** One Jacobi rotation zeroing a[p][q]; v's rows p and q turn with it. */
function _rotate(a: Float64Array, v: Float64Array, m: number, p: number, q: number): void {
  const apq = a[p * m + q]!;
  if (apq === 0) return;
  const theta = (a[q * m + q]! - a[p * m + p]!) / (2 * apq);
  const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  for (let k = 0; k < m; k++) {
    const akp = a[k * m + p]!;
    const akq = a[k * m + q]!;
    a[k * m + p] = c * akp - s * akq;
    a[k * m + q] = s * akp + c * akq;
  }
  for (let k = 0; k < m; k++) {
    const apk = a[p * m + k]!;
    const aqk = a[q * m + k]!;
    a[p * m + k] = c * apk - s * aqk;
    a[q * m + k] = s * apk + c * aqk;
  }
  for (let k = 0; k < m; k++) {
    const vpk = v[p * m + k]!;
    const vqk = v[q * m + k]!;
    v[p * m + k] = c * vpk - s * vqk;
    v[q * m + k] = s * vpk + c * vqk;
  }
}

/** x·xᵀ [D, D] when gram, else xᵀ·x [F, F]; x is [D, F]. */
function _gram(x: Float64Array, d: number, f: number, gram: boolean): Float64Array {
  const [m, len] = gram ? [d, f] : [f, d];
  const at = (i: number, k: number) => (gram ? x[i * f + k]! : x[k * f + i]!);
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let k = 0; k < len; k++) s += at(i, k) * at(j, k);
      out[i * m + j] = s;
      out[j * m + i] = s;
    }
  }
  return out;
}

/** xᵀ·u: [F] from x [D, F] and u [D]. */
function _rowCombination(x: Float64Array, u: Float64Array, d: number, f: number): Float64Array {
  const out = new Float64Array(f);
  for (let j = 0; j < d; j++) for (let p = 0; p < f; p++) out[p]! += u[j]! * x[j * f + p]!;
  return out;
}

function _unitWithPositivePeak(c: Float64Array): Float64Array {
  let norm = 0;
  let peak = 0;
  for (const x of c) {
    norm += x * x;
    if (Math.abs(x) > Math.abs(peak)) peak = x;
  }
  const k = (peak < 0 ? -1 : 1) / (Math.sqrt(norm) || 1);
  return c.map((x) => x * k);
}
