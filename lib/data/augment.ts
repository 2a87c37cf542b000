/**
 * Training-time augmentation of a batch of normalised images, after timm's recipe: per image
 * random crop with padding → horizontal flip → RandAugment → random erasing, then per batch
 * mixup or cutmix, which turn the integer labels into soft targets. Everything is off by
 * default and nothing is done at evaluation (the caller simply does not call it).
 *
 * Pixels are float32 [B, H, W, C] (NHWC), normalised as the model sees them:
 * x = (pixel/255 − mean)/std. Ops that are defined on pixel values (RandAugment's colour ops)
 * map an image back to [0, 255] floats, apply the op there and map it back, so they behave as
 * timm's PIL ops do on uint8 images (without PIL's rounding to integers between ops).
 *
 * Fill values, chosen to match the reference recipes:
 * - crop padding is black (raw 0, i.e. −mean/std), as torchvision's `RandomCrop(32, padding=4)`
 *   on the uint8 image in the usual CIFAR recipe;
 * - rotate / shear / translate fill with the dataset mean (0 after normalisation), as timm's
 *   RandAugment fills with its `img_mean`;
 * - random erasing fills in normalised space (`const`: 0 = the mean; `rand`: one N(0,1) value
 *   per channel; `pixel`: N(0,1) per value), as timm's RandomErasing after normalisation.
 *
 * All randomness comes from the `Rng` passed in, drawn in a fixed order, so the same generator
 * state and inputs give the same bytes.
 */
import { configFromObject } from "../config/load.ts";
import { type Config, defaultConfig } from "../config/schema.ts";
import type { Rng } from "../random.ts";
import { randAugment } from "./randaugment.ts";

/**
 * Augmentation settings: the config's `augment` section, whose schema (lib/config/schema.ts)
 * documents each key, its default and its range.
 */
export type AugmentOptions = Config["augment"];

/**
 * The schema's defaults of the `augment` section (every augmentation off; the magnitudes are
 * DeiT's, used only once switched on). Read from lib/config/schema.ts, not restated, so that an
 * option left out here means what a key left out of a config file means.
 *
 * @example
 * ```ts
 * import { AUGMENT_DEFAULTS } from "./augment.ts";
 * import { SCHEMA } from "../config/schema.ts";
 * if (AUGMENT_DEFAULTS.randaugment_m !== SCHEMA.augment.randaugment_m.default) throw new Error("two defaults");
 * ```
 */
export const AUGMENT_DEFAULTS: Readonly<AugmentOptions> = Object.freeze(defaultConfig().augment);

/** Batch geometry: B images of H×W×C. */
export interface BatchShape {
  b: number;
  h: number;
  w: number;
  c: number;
}

/** Per-channel normalisation the pixels went through (one entry is broadcast to every channel). */
export interface PixelNorm {
  mean: number[];
  std: number[];
}

/** Random erasing's area fraction and aspect-ratio ranges: timm's RandomErasing defaults. */
const ERASE_MIN_AREA = 0.02;
const ERASE_MAX_AREA = 1 / 3;
const ERASE_MIN_ASPECT = 0.3;

/**
 * Checks augmentation options as a config's `augment` section is checked and fills in the
 * schema's defaults: for callers that build options in code rather than load a config. The
 * augmenters themselves check nothing, since a loaded config has been checked already.
 * @param opts some options
 * @returns every option
 * @throws {ConfigError} naming `augment.<key>` and the schema's range when a value is out of it
 *
 * @example
 * ```ts
 * import { resolveAugmentOptions } from "./augment.ts";
 * if (resolveAugmentOptions({ hflip: 0.5 }).erase_count !== 1) throw new Error("not the schema's default");
 * try {
 *   resolveAugmentOptions({ randaugment_m: 15 });
 *   throw new Error("accepted");
 * } catch (err) {
 *   if (!String(err).includes("augment.randaugment_m")) throw err;
 * }
 * ```
 */
export function resolveAugmentOptions(opts: Partial<AugmentOptions> = {}): AugmentOptions {
  return configFromObject({ augment: opts }).augment;
}

/**
 * @param opts checked augmentation options (a config's `augment` section); keys left out take the schema's defaults
 * @returns whether any augmentation is switched on
 *
 * @example
 * ```ts
 * import { augmentEnabled } from "./augment.ts";
 * if (augmentEnabled({}) || !augmentEnabled({ hflip: 0.5 })) throw new Error("wrong switch");
 * ```
 */
export function augmentEnabled(opts: Partial<AugmentOptions> = {}): boolean {
  const o: AugmentOptions = { ...AUGMENT_DEFAULTS, ...opts };
  return o.crop_padding > 0 || o.hflip > 0 || o.randaugment_n > 0 || o.mixup_alpha > 0 || o.cutmix_alpha > 0 ||
    o.erase_prob > 0;
}

/**
 * Augments one training batch.
 * @param x normalised pixels, float32 [B, H, W, C]; not modified
 * @param labels integer labels [B]
 * @param numClasses K, the width of the targets
 * @param shape B, H, W, C
 * @param opts checked augmentation options: a loaded config's `augment` section, or
 *   {@linkcode resolveAugmentOptions}'s result; keys left out take the schema's defaults (all off).
 *   Not checked here: the config loader checked them once, rather than every batch again.
 * @param rng the random stream (derive one per epoch from the seed); it is advanced
 * @param epoch the one-based epoch, for `mixup_off_epoch`
 * @param norm the normalisation `x` went through; default mean 0, std 1 (x already in [0, 1])
 * @returns new pixels `x` [B, H, W, C] and soft targets [B, K] (one-hot unless the batch was mixed)
 *
 * @example
 * ```ts
 * import { augmentBatch } from "./augment.ts";
 * import { Rng } from "../random.ts";
 * const x = Float32Array.from([1, 2, 3, 4]); // one 1×4×1 image
 * const out = augmentBatch(x, Int32Array.from([1]), 2, { b: 1, h: 1, w: 4, c: 1 }, { hflip: 1 }, Rng.fromSeed(0), 1);
 * if (out.x.join() !== "4,3,2,1" || out.targets.join() !== "0,1") throw new Error("not flipped");
 * ```
 */
export function augmentBatch(
  x: Float32Array,
  labels: Int32Array,
  numClasses: number,
  shape: BatchShape,
  opts: Partial<AugmentOptions>,
  rng: Rng,
  epoch: number,
  norm: PixelNorm = { mean: [0], std: [1] },
): { x: Float32Array; targets: Float32Array } {
  const o: AugmentOptions = { ...AUGMENT_DEFAULTS, ...opts };
  const { b, h, w, c } = shape;
  const size = h * w * c;
  if (x.length !== b * size) {
    throw new RangeError(`x holds ${x.length} values, shape ${b}×${h}×${w}×${c} needs ${b * size}`);
  }
  const out = x.slice();
  const mean = Array.from({ length: c }, (_, ch) => norm.mean[ch % norm.mean.length]!);
  const std = Array.from({ length: c }, (_, ch) => norm.std[ch % norm.std.length]!);
  const black = mean.map((m, ch) => -m / std[ch]!);
  for (let i = 0; i < b; i++) {
    const img = out.subarray(i * size, (i + 1) * size);
    if (o.crop_padding > 0) {
      const span = 2 * o.crop_padding + 1;
      const dy = rng.int(span);
      const dx = rng.int(span);
      img.set(randomCrop(img, h, w, c, o.crop_padding, dy, dx, black));
    }
    if (o.hflip > 0 && rng.float() < o.hflip) hflip(img, h, w, c);
    if (o.randaugment_n > 0) {
      randAugment(img, h, w, c, o.randaugment_n, o.randaugment_m, o.randaugment_mstd, rng, mean, std);
    }
    if (o.erase_prob > 0 && rng.float() < o.erase_prob) _randomErase(img, h, w, c, o, rng);
  }
  const targets = oneHot(labels, numClasses);
  const mixOn = (o.mixup_alpha > 0 || o.cutmix_alpha > 0) && (o.mixup_off_epoch === 0 || epoch <= o.mixup_off_epoch);
  if (mixOn && b > 0 && rng.float() < o.mix_prob) {
    const useCutmix = o.cutmix_alpha > 0 && (o.mixup_alpha === 0 || rng.float() < o.mix_switch_prob);
    const alpha = useCutmix ? o.cutmix_alpha : o.mixup_alpha;
    const lam = sampleBeta(rng, alpha, alpha);
    if (useCutmix) {
      const box = cutmixBox(h, w, lam, rng);
      const mixed = cutmix(out, targets, shape, numClasses, box);
      return { x: mixed.x, targets: mixed.targets };
    }
    return mixup(out, targets, shape, numClasses, lam);
  }
  return { x: out, targets };
}

/**
 * @param labels integer labels [B]
 * @param numClasses K
 * @returns float32 one-hot targets [B, K]
 */
export function oneHot(labels: Int32Array, numClasses: number): Float32Array {
  const t = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) t[i * numClasses + labels[i]!] = 1;
  return t;
}

/**
 * Crops an H×W window from the image padded by `pad` on each side.
 * @param img one image [H, W, C]
 * @param h height
 * @param w width
 * @param c channels
 * @param pad padding per side
 * @param dy window top in the padded image, 0..2·pad
 * @param dx window left in the padded image, 0..2·pad
 * @param fill per-channel value of the padding
 * @returns a new [H, W, C] image: out[y, x] = img[y + dy − pad, x + dx − pad], or `fill` outside
 */
export function randomCrop(
  img: Float32Array,
  h: number,
  w: number,
  c: number,
  pad: number,
  dy: number,
  dx: number,
  fill: number[],
): Float32Array {
  const out = new Float32Array(h * w * c);
  // Columns x0..x1 of each row come from the image (sx = x + dx − pad inside it), in one copy.
  const x0 = Math.max(0, pad - dx), x1 = Math.min(w, w + pad - dx);
  for (let y = 0; y < h; y++) {
    const sy = y + dy - pad;
    const row = y * w * c;
    const inside = sy >= 0 && sy < h && x0 < x1;
    const from = inside ? x0 : w;
    for (let x = 0; x < from; x++) for (let ch = 0; ch < c; ch++) out[row + x * c + ch] = fill[ch]!;
    if (!inside) continue;
    const s = (sy * w + x0 + dx - pad) * c;
    out.set(img.subarray(s, s + (x1 - x0) * c), row + x0 * c);
    for (let x = x1; x < w; x++) for (let ch = 0; ch < c; ch++) out[row + x * c + ch] = fill[ch]!;
  }
  return out;
}

/**
 * Mirrors an image left–right in place.
 * @param img one image [H, W, C]
 * @param h height
 * @param w width
 * @param c channels
 */
export function hflip(img: Float32Array, h: number, w: number, c: number): void {
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w >> 1; x++) {
      const a = (y * w + x) * c;
      const bb = (y * w + (w - 1 - x)) * c;
      for (let ch = 0; ch < c; ch++) {
        const t = img[a + ch]!;
        img[a + ch] = img[bb + ch]!;
        img[bb + ch] = t;
      }
    }
  }
}

/** A rectangle of rows [y0, y1) and columns [x0, x1). */
export interface Box {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/**
 * Mixup: each image and target blended with those of the batch reversed (image i with B−1−i), as timm.
 * @param x pixels [B, H, W, C]
 * @param targets one-hot or soft targets [B, K]
 * @param shape batch geometry
 * @param numClasses K
 * @param lam weight of the image's own pixels and label
 * @returns lam·x + (1−lam)·x[reversed], and the targets blended the same way
 */
export function mixup(
  x: Float32Array,
  targets: Float32Array,
  shape: BatchShape,
  numClasses: number,
  lam: number,
): { x: Float32Array; targets: Float32Array } {
  const size = shape.h * shape.w * shape.c;
  const b = shape.b;
  const out = new Float32Array(x.length);
  for (let i = 0; i < b; i++) {
    const j = b - 1 - i;
    for (let p = 0; p < size; p++) out[i * size + p] = lam * x[i * size + p]! + (1 - lam) * x[j * size + p]!;
  }
  return { x: out, targets: _blendTargets(targets, b, numClasses, lam) };
}

/**
 * CutMix: the same box of every image is replaced by that box of the reversed batch's image;
 * targets are weighted by the area kept.
 * @param x pixels [B, H, W, C]
 * @param targets one-hot or soft targets [B, K]
 * @param shape batch geometry
 * @param numClasses K
 * @param box the rectangle to paste
 * @returns the pixels and targets, and lam = 1 − box area / (H·W), the weight of the image's own label
 */
export function cutmix(
  x: Float32Array,
  targets: Float32Array,
  shape: BatchShape,
  numClasses: number,
  box: Box,
): { x: Float32Array; targets: Float32Array; lam: number } {
  const { b, h, w, c } = shape;
  const size = h * w * c;
  const out = x.slice();
  for (let i = 0; i < b; i++) {
    const j = b - 1 - i;
    for (let y = box.y0; y < box.y1; y++) {
      const row = (y * w + box.x0) * c;
      const len = (box.x1 - box.x0) * c;
      out.set(x.subarray(j * size + row, j * size + row + len), i * size + row);
    }
  }
  const lam = 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (h * w);
  return { x: out, targets: _blendTargets(targets, b, numClasses, lam), lam };
}

/**
 * timm's `rand_bbox`: a box of side ⌊H·√(1−lam)⌋ × ⌊W·√(1−lam)⌋ centred at a uniform pixel,
 * clipped to the image (so its area, and the corrected lam, may be smaller).
 * @param h image height
 * @param w image width
 * @param lam the drawn mixing weight
 * @param rng random stream (two draws: centre row, centre column)
 * @returns the box
 */
export function cutmixBox(h: number, w: number, lam: number, rng: Rng): Box {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.floor(h * ratio);
  const cutW = Math.floor(w * ratio);
  const cy = rng.int(h);
  const cx = rng.int(w);
  const clip = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  return {
    y0: clip(cy - (cutH >> 1), h),
    y1: clip(cy + (cutH >> 1), h),
    x0: clip(cx - (cutW >> 1), w),
    x1: clip(cx + (cutW >> 1), w),
  };
}

function _blendTargets(targets: Float32Array, b: number, k: number, lam: number): Float32Array {
  const out = new Float32Array(targets.length);
  for (let i = 0; i < b; i++) {
    const j = b - 1 - i;
    for (let q = 0; q < k; q++) out[i * k + q] = lam * targets[i * k + q]! + (1 - lam) * targets[j * k + q]!;
  }
  return out;
}

/**
 * A Beta(a, b) sample from two Gamma samples (Marsaglia–Tsang).
 * @param rng random stream
 * @param a first shape parameter, > 0
 * @param b second shape parameter, > 0
 * @returns a number in [0, 1]
 */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = _gamma(rng, a);
  const y = _gamma(rng, b);
  // Both underflow only for tiny shapes; the Beta is then a coin between 0 and 1.
  return x + y > 0 ? x / (x + y) : 0.5;
}

function _gamma(rng: Rng, a: number): number {
  if (a < 1) {
    // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a).
    const u = 1 - rng.float();
    return _gamma(rng, a + 1) * Math.pow(u, 1 / a);
  }
  const d = a - 1 / 3;
  const cc = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal();
    let v = 1 + cc * z;
    if (v <= 0) continue;
    v = v * v * v;
    const u = 1 - rng.float();
    if (u < 1 - 0.0331 * z ** 4 || Math.log(u) < 0.5 * z * z + d * (1 - v + Math.log(v))) return d * v;
  }
}

/**
 * timm's RandomErasing on one normalised image: `erase_count` rectangles, each of a uniform
 * area fraction in [0.02, 1/3]/count and log-uniform aspect in [0.3, 1/0.3], placed uniformly;
 * up to 10 tries each to find one that fits.
 */
function _randomErase(img: Float32Array, h: number, w: number, c: number, o: AugmentOptions, rng: Rng): void {
  const area = h * w;
  for (let n = 0; n < o.erase_count; n++) {
    for (let attempt = 0; attempt < 10; attempt++) {
      const target = (ERASE_MIN_AREA + rng.float() * (ERASE_MAX_AREA - ERASE_MIN_AREA)) * area / o.erase_count;
      const logLo = Math.log(ERASE_MIN_ASPECT);
      const aspect = Math.exp(logLo + rng.float() * (-2 * logLo));
      const eh = Math.round(Math.sqrt(target * aspect));
      const ew = Math.round(Math.sqrt(target / aspect));
      if (eh < h && ew < w && eh > 0 && ew > 0) {
        const top = rng.int(h - eh + 1);
        const left = rng.int(w - ew + 1);
        eraseBox(img, h, w, c, { y0: top, y1: top + eh, x0: left, x1: left + ew }, o.erase_mode, rng);
        break;
      }
    }
  }
}

/**
 * Fills a box of one normalised image.
 * @param img one image [H, W, C]
 * @param h height
 * @param w width
 * @param c channels
 * @param box the rectangle
 * @param mode `const` 0, `rand` one N(0,1) per channel, `pixel` N(0,1) per value
 * @param rng random stream (not drawn from in `const` mode)
 */
export function eraseBox(
  img: Float32Array,
  h: number,
  w: number,
  c: number,
  box: Box,
  mode: AugmentOptions["erase_mode"],
  rng: Rng,
): void {
  const perChannel = mode === "rand" ? Array.from({ length: c }, () => rng.normal()) : undefined;
  for (let y = box.y0; y < Math.min(box.y1, h); y++) {
    for (let x = box.x0; x < Math.min(box.x1, w); x++) {
      for (let ch = 0; ch < c; ch++) {
        img[(y * w + x) * c + ch] = mode === "const" ? 0 : perChannel ? perChannel[ch]! : rng.normal();
      }
    }
  }
}
