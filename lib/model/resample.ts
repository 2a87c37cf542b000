/**
 * Fitting trained weights to another image size, patch size or channel count, as timm does when
 * it loads a checkpoint into a model of another shape:
 *
 * - `pos_embed` to another grid: timm's `resample_abs_pos_embed` (bicubic, the class token's row kept);
 * - the patch embedding's kernel to another patch size: timm's `resample_patch_embed` (the
 *   pseudo-inverse of the bicubic resize of a patch, so that a resized patch through the new
 *   kernel gives what the patch gave through the old one);
 * - the patch embedding to another channel count: timm's `adapt_input_conv`.
 *
 * Resizing is `torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`: with
 * `antialias` (timm's default in all three places) torch's separable filter with a = −0.5,
 * normalised, widened by the scale when shrinking; without it the classic a = −0.75 kernel with
 * edge clamping. Pure functions on arrays in timm's layout; no tfjs.
 */
import { pinv } from "./pinv.ts";

/** Options of the bicubic resizes. */
export interface ResizeOptions {
  /** torch's `antialias`; timm passes true (its default) when it loads checkpoints. */
  antialias?: boolean;
}

/**
 * The 1-D bicubic resize from `inSize` to `outSize` samples as a matrix, as torch computes it.
 * @param inSize input length
 * @param outSize output length
 * @param options antialias (default true, timm's)
 * @returns row-major [outSize, inSize]: output i = Σ_j w[i, j] · input j
 * @example
 * ```ts
 * import { bicubicMatrix } from "./resample.ts";
 * // Same size: the identity.
 * if (bicubicMatrix(3, 3).join() !== "1,0,0,0,1,0,0,0,1") throw new Error("wrong");
 * ```
 */
export function bicubicMatrix(inSize: number, outSize: number, options: ResizeOptions = {}): Float64Array {
  const w = new Float64Array(outSize * inSize);
  const scale = inSize / outSize; // torch's area_pixel_compute_scale, align_corners=False
  for (let i = 0; i < outSize; i++) {
    const row = options.antialias ?? true ? _aaRow(i, scale, inSize) : _cubicRow(i, scale, inSize);
    for (const [j, weight] of row) w[i * inSize + j] = w[i * inSize + j]! + weight;
  }
  return w;
}

/** torch's upsample_bicubic2d: four taps around the source point, a = −0.75, indices clamped. */
function _cubicRow(i: number, scale: number, inSize: number): [number, number][] {
  const a = -0.75;
  const real = scale * (i + 0.5) - 0.5; // not clamped at 0 for cubic, as torch
  const base = Math.floor(real);
  const t = real - base;
  const near = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1; // |x| ≤ 1
  const far = (x: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; // 1 < |x| < 2
  const weights = [far(t + 1), near(t), near(1 - t), far(2 - t)];
  const clamp = (j: number) => Math.min(Math.max(j, 0), inSize - 1);
  return weights.map((weight, k) => [clamp(base - 1 + k), weight]);
}

/** torch's antialiased bicubic (PIL's): a = −0.5 filter over a support widened when shrinking. */
function _aaRow(i: number, scale: number, inSize: number): [number, number][] {
  const a = -0.5;
  const filter = (x: number) => {
    x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  };
  const support = scale >= 1 ? 2 * scale : 2; // interp_size 4, halved, times the scale
  const invScale = scale >= 1 ? 1 / scale : 1;
  const center = scale * (i + 0.5);
  const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
  const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
  const row: [number, number][] = [];
  let total = 0;
  for (let j = xmin; j < xmax; j++) {
    const weight = filter((j - center + 0.5) * invScale);
    row.push([j, weight]);
    total += weight;
  }
  return total === 0 ? row : row.map(([j, weight]) => [j, weight / total]);
}

/**
 * timm's `resample_abs_pos_embed` with one prefix (class) token: the class token's row kept, the
 * square grid of the other rows resized bicubically.
 * @param posEmbed [1, 1 + g², D] row-major
 * @param dim D
 * @param newGrid g', the new grid's side
 * @param options antialias (default true, timm's)
 * @returns [1, 1 + g'², D]; the input itself when the grid already has that side
 * @throws {RangeError} when the rows after the class token do not form a square grid
 * @example
 * ```ts
 * import { resampleAbsPosEmbed } from "./resample.ts";
 * // D = 1: class row 9, a 2×2 grid of ones → a 3×3 grid of ones (bicubic keeps constants).
 * const out = resampleAbsPosEmbed(new Float32Array([9, 1, 1, 1, 1]), 1, 3);
 * if (out.length !== 10 || out[0] !== 9 || out.some((v, i) => i > 0 && Math.abs(v - 1) > 1e-6)) {
 *   throw new Error("wrong");
 * }
 * ```
 */
export function resampleAbsPosEmbed(
  posEmbed: Float32Array,
  dim: number,
  newGrid: number,
  options: ResizeOptions = {},
): Float32Array {
  const tokens = posEmbed.length / dim;
  const g = Math.round(Math.sqrt(tokens - 1));
  if (g * g !== tokens - 1) throw new RangeError(`pos_embed has ${tokens - 1} grid rows, not a square grid`);
  if (g === newGrid) return posEmbed;
  const w = bicubicMatrix(g, newGrid, options); // [g', g], the same along both axes
  const out = new Float32Array((1 + newGrid * newGrid) * dim);
  out.set(posEmbed.subarray(0, dim)); // the class token's row
  // Rows first (y), then columns (x): tmp [g', g, D], out [g', g', D] after the class row.
  const tmp = new Float64Array(newGrid * g * dim);
  for (let oy = 0; oy < newGrid; oy++) {
    for (let iy = 0; iy < g; iy++) {
      const wy = w[oy * g + iy]!;
      if (wy === 0) continue;
      for (let x = 0; x < g; x++) {
        const src = (1 + iy * g + x) * dim, dst = (oy * g + x) * dim;
        for (let d = 0; d < dim; d++) tmp[dst + d] = tmp[dst + d]! + wy * posEmbed[src + d]!;
      }
    }
  }
  for (let oy = 0; oy < newGrid; oy++) {
    for (let ox = 0; ox < newGrid; ox++) {
      const dst = (1 + oy * newGrid + ox) * dim;
      const acc = new Float64Array(dim);
      for (let ix = 0; ix < g; ix++) {
        const wx = w[ox * g + ix]!;
        if (wx === 0) continue;
        const src = (oy * g + ix) * dim;
        for (let d = 0; d < dim; d++) acc[d] = acc[d]! + wx * tmp[src + d]!;
      }
      out.set(acc, dst);
    }
  }
  return out;
}

/**
 * timm's `resample_patch_embed`: each [P, P] kernel k becomes pinv(M)ᵀ-applied k, where M
 * [P'², P²] resizes a P×P patch to P'×P' bicubically — so that ⟨k', resize(patch)⟩ ≈ ⟨k, patch⟩.
 * @param weight the conv weight [D, C, P, P] row-major
 * @param kernels D·C, the number of [P, P] kernels
 * @param patch P
 * @param newPatch P'
 * @param options antialias (default true, timm's)
 * @returns [D, C, P', P']; the input itself when P' = P
 * @example
 * ```ts
 * import { resamplePatchEmbed } from "./resample.ts";
 * const out = resamplePatchEmbed(new Float32Array(2 * 1 * 4 * 4).fill(1), 2, 1, 2);
 * if (out.length !== 2 * 1 * 2 * 2) throw new Error("wrong");
 * ```
 */
export function resamplePatchEmbed(
  weight: Float32Array,
  kernels: number,
  patch: number,
  newPatch: number,
  options: ResizeOptions = {},
): Float32Array {
  if (newPatch === patch) return weight;
  const oldN = patch * patch, newN = newPatch * newPatch;
  const w1 = bicubicMatrix(patch, newPatch, options); // [P', P]
  // M[(oy, ox), (iy, ix)] = w1[oy, iy] · w1[ox, ix]: the 2-D resize as a [P'², P²] matrix.
  const m = new Float64Array(newN * oldN);
  for (let oy = 0; oy < newPatch; oy++) {
    for (let ox = 0; ox < newPatch; ox++) {
      for (let iy = 0; iy < patch; iy++) {
        for (let ix = 0; ix < patch; ix++) {
          m[(oy * newPatch + ox) * oldN + iy * patch + ix] = w1[oy * patch + iy]! * w1[ox * patch + ix]!;
        }
      }
    }
  }
  const p = pinv(m, newN, oldN); // [P², P'²]
  const out = new Float32Array(kernels * newN);
  const acc = new Float64Array(newN);
  // Each kernel, flattened to [P²], times pinv(M): [P²] @ [P², P'²] → [P'²] (timm's `patch_embed @ pinv_matrix`).
  for (let k = 0; k < kernels; k++) {
    acc.fill(0);
    for (let i = 0; i < oldN; i++) {
      const v = weight[k * oldN + i]!;
      if (v === 0) continue;
      for (let o = 0; o < newN; o++) acc[o] = acc[o]! + v * p[i * newN + o]!;
    }
    out.set(acc, k * newN);
  }
  return out;
}

/**
 * timm's `adapt_input_conv`: a first-layer conv weight for another number of input channels.
 * To 1 channel, the kernels are summed over the channels; to more, timm's rule (channels
 * repeated and cut to the count, scaled by source/target channels) — which timm applies from 3
 * channels and vitlab also from 1.
 * @param weight [O, I, P, P] row-major
 * @param out O
 * @param inChans I
 * @param newChans the model's channels
 * @returns [O, newChans, P, P]; the input itself when the counts agree
 * @example
 * ```ts
 * import { adaptInputConv } from "./resample.ts";
 * // One output, 3 channels of a 1×1 kernel: [1, 2, 3] → summed [6] → repeated and scaled [2, 2, 2].
 * const gray = adaptInputConv(new Float32Array([1, 2, 3]), 1, 3, 1);
 * const rgb = adaptInputConv(gray, 1, 1, 3);
 * if (gray.join() !== "6" || rgb.join() !== "2,2,2") throw new Error("wrong");
 * ```
 */
export function adaptInputConv(weight: Float32Array, out: number, inChans: number, newChans: number): Float32Array {
  if (newChans === inChans) return weight;
  const k = weight.length / (out * inChans); // P·P
  const result = new Float32Array(out * newChans * k);
  const scale = inChans / newChans;
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < newChans; c++) {
      for (let i = 0; i < k; i++) {
        const dst = (o * newChans + c) * k + i;
        if (newChans === 1) {
          let sum = 0;
          for (let s = 0; s < inChans; s++) sum += weight[(o * inChans + s) * k + i]!;
          result[dst] = sum;
        } else {
          result[dst] = weight[(o * inChans + (c % inChans)) * k + i]! * scale;
        }
      }
    }
  }
  return result;
}
