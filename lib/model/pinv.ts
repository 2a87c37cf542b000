/**
 * The Moore–Penrose pseudo-inverse of a small dense matrix, in float64, by one-sided Jacobi SVD
 * (Hestenes): what timm's `resample_patch_embed` takes of its resize matrix with
 * `torch.linalg.pinv`. Small means a patch's pixels squared (256 × 256 for 16-pixel patches).
 */

/**
 * @param a the matrix, row-major [m, n]
 * @param m rows
 * @param n columns
 * @param rtol singular values below rtol × the largest count as zero; torch's default for a
 *   float32 matrix is float32's epsilon × max(m, n), which is this default
 * @returns pinv(a), row-major [n, m]
 * @example
 * ```ts
 * import { pinv } from "./pinv.ts";
 * // [[1, 0], [0, 2], [0, 0]] → [[1, 0, 0], [0, 0.5, 0]]
 * const p = pinv(new Float64Array([1, 0, 0, 2, 0, 0]), 3, 2);
 * if (p.join() !== "1,0,0,0,0.5,0") throw new Error("wrong");
 * ```
 */
export function pinv(a: Float64Array, m: number, n: number, rtol = 2 ** -23 * Math.max(m, n)): Float64Array {
  // Fewer columns, fewer rotations: pinv(A) = pinv(Aᵀ)ᵀ.
  if (n > m) return _transpose(pinv(_transpose(a, m, n), n, m, rtol), m, n);
  const u = _columns(a, m, n); // u[j]: column j of A, rotated into column j of UΣ
  const v = Array.from({ length: n }, (_, j) => Float64Array.from({ length: n }, (_, i) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 60 && _sweep(u, v); sweep++);
  const sigma = u.map((col) => Math.sqrt(_dot(col, col)));
  const cutoff = rtol * Math.max(0, ...sigma);
  // pinv(A) = V Σ⁺ Uᵀ = Σ_j v_j (UΣ)_jᵀ / σ_j²
  const out = new Float64Array(n * m);
  for (let j = 0; j < n; j++) {
    const s = sigma[j]!;
    if (!(s > cutoff) || s === 0) continue;
    const vj = v[j]!;
    const uj = u[j]!;
    const inv = 1 / (s * s);
    for (let r = 0; r < n; r++) {
      const f = vj[r]! * inv;
      if (f === 0) continue;
      for (let c = 0; c < m; c++) out[r * m + c] = out[r * m + c]! + f * uj[c]!;
    }
  }
  return out;
}

/** One sweep of rotations over every column pair; returns whether any pair was rotated. */
function _sweep(u: Float64Array[], v: Float64Array[]): boolean {
  let rotated = false;
  for (let p = 0; p < u.length - 1; p++) {
    for (let q = p + 1; q < u.length; q++) {
      const up = u[p]!, uq = u[q]!;
      const alpha = _dot(up, up), beta = _dot(uq, uq), gamma = _dot(up, uq);
      if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
      rotated = true;
      // The rotation that makes columns p and q orthogonal.
      const zeta = (beta - alpha) / (2 * gamma);
      const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t);
      const s = c * t;
      _rotate(up, uq, c, s);
      _rotate(v[p]!, v[q]!, c, s);
    }
  }
  return rotated;
}

function _rotate(x: Float64Array, y: Float64Array, c: number, s: number): void {
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!, b = y[i]!;
    x[i] = c * a - s * b;
    y[i] = s * a + c * b;
  }
}

function _dot(x: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i]! * y[i]!;
  return sum;
}

function _columns(a: Float64Array, m: number, n: number): Float64Array[] {
  return Array.from({ length: n }, (_, j) => Float64Array.from({ length: m }, (_, i) => a[i * n + j]!));
}

function _transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}
