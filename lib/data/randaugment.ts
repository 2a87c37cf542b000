/**
 * RandAugment (Cubuk et al. 2020) as timm implements it, on one image held as [0, 255] floats
 * ([H, W, C]): N ops drawn with replacement from timm's "increasing" set, each applied with
 * probability 0.5 at magnitude M (plus Gaussian noise of std `mstd`), clipped to the range of
 * `augment.randaugment_m` in the config schema: timm's 0–10 scale.
 * The pixel ops follow PIL's definitions (ImageOps / ImageEnhance) without PIL's rounding to
 * integers; geometric ops use bilinear sampling and fill uncovered pixels with the given value.
 */
import { type FieldSpec, SCHEMA } from "../config/schema.ts";
import type { Rng } from "../random.ts";

/** timm's RandAugment applies each chosen op with this probability. */
const RANDAUGMENT_PROB = 0.5;

/**
 * timm clips every magnitude, noisy or not, to [0, magnitude_max], which defaults to its
 * _LEVEL_DENOM (10): past it the op arguments leave their ranges (posterize would keep fewer than
 * 0 bits). The top is the schema's, so that noise never takes a magnitude beyond what
 * `augment.randaugment_m` accepts.
 */
const MAX_MAGNITUDE = _schemaMax(SCHEMA.augment.randaugment_m);

function _schemaMax(spec: FieldSpec): number {
  if (spec.kind !== "float" || spec.max === undefined) throw new Error("schema: augment.randaugment_m has no max");
  return spec.max;
}

/**
 * RandAugment's ops: timm's "increasing" set (`rand-…-inc1`, as DeiT). Identity is not listed:
 * each chosen op is applied with probability 0.5, as timm's default, so an image is often left as is.
 */
export const RANDAUGMENT_OPS = [
  "auto_contrast",
  "equalize",
  "invert",
  "rotate",
  "posterize",
  "solarize",
  "solarize_add",
  "color",
  "contrast",
  "brightness",
  "sharpness",
  "shear_x",
  "shear_y",
  "translate_x",
  "translate_y",
] as const;

/** A RandAugment op name. */
export type RandAugmentOp = typeof RANDAUGMENT_OPS[number];

/**
 * Applies RandAugment to one normalised image in place.
 * @param img one image [H, W, C], normalised: (pixel/255 − mean)/std
 * @param h height
 * @param w width
 * @param c channels
 * @param n ops per image, as `augment.randaugment_n`
 * @param m magnitude, as `augment.randaugment_m` (checked by the config loader, not here)
 * @param mstd std of the noise added to the magnitude at each op (0: none), as `augment.randaugment_mstd`
 * @param rng random stream: per op, the op, whether it applies, then (if it does) the magnitude noise and the sign
 * @param mean per-channel mean of the normalisation (also the fill of geometric ops)
 * @param std per-channel std of the normalisation
 */
export function randAugment(
  img: Float32Array,
  h: number,
  w: number,
  c: number,
  n: number,
  m: number,
  mstd: number,
  rng: Rng,
  mean: number[],
  std: number[],
): void {
  let raw: Float32Array | undefined;
  for (let k = 0; k < n; k++) {
    const op = RANDAUGMENT_OPS[rng.int(RANDAUGMENT_OPS.length)]!;
    if (rng.float() >= RANDAUGMENT_PROB) continue;
    const noisy = mstd > 0 ? m + mstd * rng.normal() : m;
    const mag = Math.min(MAX_MAGNITUDE, Math.max(0, noisy));
    const sign = rng.float() < 0.5 ? 1 : -1;
    // Pixel space only once an op applies: untouched images keep their exact bytes.
    raw ??= _toRaw(img, c, mean, std);
    raw = randAugmentOp(op, raw, h, w, c, mag, sign, mean.map((v) => v * 255));
  }
  if (raw) _fromRaw(raw, img, c, mean, std);
}

function _toRaw(img: Float32Array, c: number, mean: number[], std: number[]): Float32Array {
  const raw = new Float32Array(img.length);
  for (let p = 0; p < img.length; p++) raw[p] = (img[p]! * std[p % c]! + mean[p % c]!) * 255;
  return raw;
}

function _fromRaw(raw: Float32Array, img: Float32Array, c: number, mean: number[], std: number[]): void {
  for (let p = 0; p < img.length; p++) img[p] = (raw[p]! / 255 - mean[p % c]!) / std[p % c]!;
}

/**
 * One RandAugment op on an image in pixel-value space ([0, 255] floats), with timm's
 * magnitude-to-argument mapping (`_LEVEL_DENOM` 10, "increasing" variants):
 * rotate ±30°·m/10; shear ±0.3·m/10; translate ±0.45·m/10 of the side; posterize to
 * 4 − ⌊0.4·m⌋ bits; solarize above 256 − ⌊25.6·m⌋; solarize_add +⌊11·m⌋ below 128;
 * color/contrast/brightness/sharpness blend factor 1 ± 0.09·m (at least 0.1).
 * @param op the op
 * @param raw one image [H, W, C] in [0, 255]
 * @param h height
 * @param w width
 * @param c channels
 * @param m magnitude 0–10
 * @param sign +1 or −1, for the ops with a direction
 * @param fill per-channel pixel value uncovered by geometric ops
 * @returns the transformed image (a new array, or `raw` changed in place)
 */
export function randAugmentOp(
  op: RandAugmentOp,
  raw: Float32Array,
  h: number,
  w: number,
  c: number,
  m: number,
  sign: number,
  fill: number[],
): Float32Array {
  const level = m / 10;
  const enhance = Math.max(0.1, 1 + sign * 0.9 * level);
  const cx = w / 2;
  const cy = h / 2;
  switch (op) {
    case "auto_contrast":
      return _perChannel(raw, c, (v, lo, hi) => hi > lo ? (v - lo) * 255 / (hi - lo) : v);
    case "equalize":
      return _equalize(raw, c);
    case "invert":
      return _map(raw, (v) => 255 - v);
    case "rotate": {
      const t = (sign * 30 * level * Math.PI) / 180;
      const cos = Math.cos(t);
      const sin = Math.sin(t);
      // Counter-clockwise on screen (y down) about the centre: source = R(−θ)·(p − centre) + centre.
      return _affine(raw, h, w, c, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy], fill);
    }
    case "shear_x":
      return _affine(raw, h, w, c, [1, sign * 0.3 * level, 0, 0, 1, 0], fill);
    case "shear_y":
      return _affine(raw, h, w, c, [1, 0, 0, sign * 0.3 * level, 1, 0], fill);
    case "translate_x":
      return _affine(raw, h, w, c, [1, 0, sign * 0.45 * level * w, 0, 1, 0], fill);
    case "translate_y":
      return _affine(raw, h, w, c, [1, 0, 0, 0, 1, sign * 0.45 * level * h], fill);
    case "posterize": {
      const bits = 4 - Math.floor(level * 4);
      const mask = ~((1 << (8 - bits)) - 1) & 0xff;
      return _map(raw, (v) => _byte(v) & mask);
    }
    case "solarize": {
      const threshold = 256 - Math.floor(level * 256);
      return _map(raw, (v) => v < threshold ? v : 255 - v);
    }
    case "solarize_add": {
      const add = Math.floor(level * 110);
      return _map(raw, (v) => v < 128 ? Math.min(255, v + add) : v);
    }
    case "color":
      return c < 3 ? raw : _blend(raw, _grey(raw, c, false), enhance);
    case "contrast":
      return _blend(raw, _grey(raw, c, true), enhance);
    case "brightness":
      return _map(raw, (v) => Math.min(255, Math.max(0, v * enhance)));
    case "sharpness":
      return _blend(raw, _smooth(raw, h, w, c), enhance);
  }
}

function _byte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

function _map(raw: Float32Array, f: (v: number) => number): Float32Array {
  for (let p = 0; p < raw.length; p++) raw[p] = f(raw[p]!);
  return raw;
}

function _perChannel(raw: Float32Array, c: number, f: (v: number, lo: number, hi: number) => number): Float32Array {
  for (let ch = 0; ch < c; ch++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let p = ch; p < raw.length; p += c) {
      lo = Math.min(lo, raw[p]!);
      hi = Math.max(hi, raw[p]!);
    }
    for (let p = ch; p < raw.length; p += c) raw[p] = f(raw[p]!, lo, hi);
  }
  return raw;
}

/** PIL's ImageOps.equalize per channel, on values rounded to bytes. */
function _equalize(raw: Float32Array, c: number): Float32Array {
  for (let ch = 0; ch < c; ch++) {
    const hist = new Float64Array(256);
    for (let p = ch; p < raw.length; p += c) hist[_byte(raw[p]!)]!++;
    const used = Array.from(hist).filter((n) => n > 0);
    if (used.length <= 1) continue;
    const step = Math.floor((used.reduce((a, n) => a + n, 0) - used[used.length - 1]!) / 255);
    if (step === 0) continue;
    const lut = new Float32Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut[i] = Math.min(255, Math.floor(n / step));
      n += hist[i]!;
    }
    for (let p = ch; p < raw.length; p += c) raw[p] = lut[_byte(raw[p]!)]!;
  }
  return raw;
}

/**
 * The grey version of an image, in its own channel count. With `meanOnly`, every pixel is the
 * rounded mean grey level, PIL's degenerate image for Contrast.
 */
function _grey(raw: Float32Array, c: number, meanOnly: boolean): Float32Array {
  const n = raw.length / c;
  const grey = new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const s = i * c;
    grey[i] = c >= 3 ? (19595 * raw[s]! + 38470 * raw[s + 1]! + 7471 * raw[s + 2]!) / 65536 : raw[s]!;
    sum += grey[i]!;
  }
  const out = new Float32Array(raw.length);
  const mean = Math.floor(sum / n + 0.5);
  for (let p = 0; p < raw.length; p++) out[p] = meanOnly ? mean : grey[Math.floor(p / c)]!;
  return out;
}

/** PIL's SMOOTH filter (3×3, centre 5, others 1, /13) with the border pixels kept. */
function _smooth(raw: Float32Array, h: number, w: number, c: number): Float32Array {
  const out = raw.slice();
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            acc += raw[((y + dy) * w + x + dx) * c + ch]! * (dy === 0 && dx === 0 ? 5 : 1);
          }
        }
        out[(y * w + x) * c + ch] = acc / 13;
      }
    }
  }
  return out;
}

/** PIL's Image.blend(degenerate, image, factor), clipped to [0, 255]; in place in `raw`. */
function _blend(raw: Float32Array, degenerate: Float32Array, factor: number): Float32Array {
  for (let p = 0; p < raw.length; p++) {
    const d = degenerate[p]!;
    raw[p] = Math.min(255, Math.max(0, d + factor * (raw[p]! - d)));
  }
  return raw;
}

/**
 * PIL's AFFINE transform with bilinear sampling: the output pixel centred at (x+½, y+½) takes
 * the input at (a·x′ + b·y′ + c0, d·x′ + e·y′ + f) with (x′, y′) that centre; a source outside
 * the image gives `fill`.
 */
function _affine(raw: Float32Array, h: number, w: number, c: number, m: number[], fill: number[]): Float32Array {
  const [a, b, c0, d, e, f] = m as [number, number, number, number, number, number];
  const out = new Float32Array(raw.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const sx = a * (x + 0.5) + b * (y + 0.5) + c0;
      const sy = d * (x + 0.5) + e * (y + 0.5) + f;
      const o = (y * w + x) * c;
      if (sx < 0 || sx >= w || sy < 0 || sy >= h) {
        for (let ch = 0; ch < c; ch++) out[o + ch] = fill[ch]!;
        continue;
      }
      // Pixel-centre coordinates; neighbours beyond the edge repeat the edge.
      const fx = sx - 0.5;
      const fy = sy - 0.5;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const tx = fx - x0;
      const ty = fy - y0;
      const xa = Math.max(0, x0);
      const xb = Math.min(w - 1, x0 + 1);
      const ya = Math.max(0, y0);
      const yb = Math.min(h - 1, y0 + 1);
      for (let ch = 0; ch < c; ch++) {
        const top = raw[(ya * w + xa) * c + ch]! * (1 - tx) + raw[(ya * w + xb) * c + ch]! * tx;
        const bottom = raw[(yb * w + xa) * c + ch]! * (1 - tx) + raw[(yb * w + xb) * c + ch]! * tx;
        out[o + ch] = top * (1 - ty) + bottom * ty;
      }
    }
  }
  return out;
}
