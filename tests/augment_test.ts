import assert from "node:assert/strict";
import {
  AUGMENT_DEFAULTS,
  augmentBatch,
  augmentEnabled,
  type AugmentOptions,
  cutmix,
  eraseBox,
  hflip,
  mixup,
  oneHot,
  randomCrop,
  resolveAugmentOptions,
  sampleBeta,
} from "../lib/data/augment.ts";
import { type RandAugmentOp, randAugmentOp } from "../lib/data/randaugment.ts";
import { ConfigError } from "../lib/errors.ts";
import { Rng } from "../lib/random.ts";

/** A batch whose value at (i, y, x, ch) is 1000·i + 100·y + 10·x + ch: every position is recognisable. */
function batch(b: number, h: number, w: number, c: number): Float32Array {
  const x = new Float32Array(b * h * w * c);
  for (let i = 0; i < b; i++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let ch = 0; ch < c; ch++) x[((i * h + y) * w + xx) * c + ch] = 1000 * i + 100 * y + 10 * xx + ch;
      }
    }
  }
  return x;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `at ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

Deno.test("augment: off by default — same bytes, one-hot targets, no random draws", () => {
  const x = batch(3, 2, 2, 2);
  const rng = Rng.fromSeed(1, "augment");
  const before = rng.state();
  const out = augmentBatch(x, Int32Array.from([2, 0, 1]), 3, { b: 3, h: 2, w: 2, c: 2 }, {}, rng, 1);
  assert.deepEqual(out.x, x);
  assert.notEqual(out.x, x, "a new array: the input is not modified");
  assert.deepEqual(Array.from(out.targets), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  assert.deepEqual(rng.state(), before);
  assert.equal(augmentEnabled({}), false);
  assert.equal(augmentEnabled(AUGMENT_DEFAULTS), false);
  assert.equal(augmentEnabled({ hflip: 0.5 }), true);
});

Deno.test("augment: horizontal flip mirrors columns, channels kept together", () => {
  const img = batch(1, 2, 3, 2);
  hflip(img, 2, 3, 2);
  assert.deepEqual(Array.from(img), [20, 21, 10, 11, 0, 1, 120, 121, 110, 111, 100, 101]);
  // hflip = 1 flips every image; 0 < p < 1 flips about that share.
  const shape = { b: 200, h: 1, w: 2, c: 1 };
  const x = batch(200, 1, 2, 1);
  const all = augmentBatch(x, new Int32Array(200), 1, shape, { hflip: 1 }, Rng.fromSeed(0), 1).x;
  assert.deepEqual(Array.from(all.subarray(0, 4)), [10, 0, 1010, 1000]);
  const some = augmentBatch(x, new Int32Array(200), 1, shape, { hflip: 0.5 }, Rng.fromSeed(0), 1).x;
  let flipped = 0;
  for (let i = 0; i < 200; i++) if (some[2 * i]! > some[2 * i + 1]!) flipped++;
  assert.ok(flipped > 70 && flipped < 130, `${flipped} of 200 flipped`);
});

Deno.test("augment: random crop with padding shifts the image and pads with black", () => {
  const img = batch(1, 2, 2, 1); // [[0, 10], [100, 110]]
  assert.deepEqual(Array.from(randomCrop(img, 2, 2, 1, 1, 1, 1, [-9])), [0, 10, 100, 110]); // centred
  assert.deepEqual(Array.from(randomCrop(img, 2, 2, 1, 1, 0, 2, [-9])), [-9, -9, 10, -9]); // up-right window
  assert.deepEqual(Array.from(randomCrop(img, 2, 2, 1, 1, 2, 0, [-9])), [-9, 100, -9, -9]);
  // Through augmentBatch: black is −mean/std, every output is one of the 3×3 windows.
  const x = batch(20, 2, 2, 1);
  const norm = { mean: [0.5], std: [0.25] };
  const out =
    augmentBatch(x, new Int32Array(20), 1, { b: 20, h: 2, w: 2, c: 1 }, { crop_padding: 1 }, Rng.fromSeed(3), 1, norm)
      .x;
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const got = Array.from(out.subarray(4 * i, 4 * i + 4)).join();
    const src = x.subarray(4 * i, 4 * i + 4);
    const windows = [];
    for (let dy = 0; dy < 3; dy++) {
      for (let dx = 0; dx < 3; dx++) windows.push(randomCrop(src, 2, 2, 1, 1, dy, dx, [-2]).join());
    }
    const k = windows.indexOf(got);
    assert.ok(k >= 0, `image ${i}: ${got} is no window of the padded image`);
    seen.add(String(k));
  }
  assert.ok(seen.size >= 5, "offsets vary");
});

Deno.test("augment: random crop equals the pixel-by-pixel definition for every offset, size, channel count and padding", () => {
  // out[y, x] = img[y + dy − pad, x + dx − pad] inside the image, the channel's fill outside.
  const reference = (img: Float32Array, h: number, w: number, c: number, pad: number, dy: number, dx: number) => {
    const out = new Float32Array(h * w * c);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const sy = y + dy - pad, sx = x + dx - pad;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        for (let ch = 0; ch < c; ch++) out[(y * w + x) * c + ch] = inside ? img[(sy * w + sx) * c + ch]! : -1 - ch;
      }
    }
    return out;
  };
  let cases = 0;
  for (const [h, w] of [[1, 1], [2, 3], [5, 4], [7, 7]]) {
    for (const c of [1, 3]) {
      const img = Float32Array.from({ length: h! * w! * c }, (_, i) => i + 1);
      for (const pad of [0, 1, 2, 4, 9]) {
        for (let dy = 0; dy <= 2 * pad; dy++) {
          for (let dx = 0; dx <= 2 * pad; dx++) {
            const fill = Array.from({ length: c }, (_, ch) => -1 - ch);
            const got = randomCrop(img, h!, w!, c, pad, dy, dx, fill);
            assert.deepEqual(got, reference(img, h!, w!, c, pad, dy, dx), `${h}×${w}×${c} pad ${pad} at ${dy},${dx}`);
            cases++;
          }
        }
      }
    }
  }
  assert.ok(cases > 1000);
});

Deno.test("augment: random erasing fills one rectangle; const is 0, pixel is noise", () => {
  const img = new Float32Array(4 * 5 * 2).fill(7);
  eraseBox(img, 4, 5, 2, { y0: 1, y1: 3, x0: 2, x1: 4 }, "const", Rng.fromSeed(0));
  const zeros: string[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 5; x++) if (img[(y * 5 + x) * 2] === 0) zeros.push(`${y},${x}`);
  assert.deepEqual(zeros, ["1,2", "1,3", "2,2", "2,3"]);
  assert.equal(img.filter((v) => v === 7).length, 40 - 8);
  const noisy = new Float32Array(3 * 3).fill(7);
  eraseBox(noisy, 3, 3, 1, { y0: 0, y1: 1, x0: 0, x1: 3 }, "pixel", Rng.fromSeed(0));
  assert.ok(new Set(noisy.subarray(0, 3)).size === 3 && !noisy.subarray(0, 3).includes(7));
  assert.deepEqual(Array.from(noisy.subarray(3)), new Array(6).fill(7));
  const rgb = new Float32Array(2 * 3).fill(7);
  eraseBox(rgb, 1, 2, 3, { y0: 0, y1: 1, x0: 0, x1: 2 }, "rand", Rng.fromSeed(0));
  assert.deepEqual(Array.from(rgb.subarray(0, 3)), Array.from(rgb.subarray(3, 6)), "rand: one value per channel");
  // Through augmentBatch: each image gets one axis-aligned rectangle of 2%–33% of its area.
  const b = 30;
  const x = new Float32Array(b * 16 * 16).fill(7);
  const opts = { erase_prob: 1, erase_mode: "const" as const };
  const out = augmentBatch(x, new Int32Array(b), 1, { b, h: 16, w: 16, c: 1 }, opts, Rng.fromSeed(5), 1).x;
  for (let i = 0; i < b; i++) {
    const ys: number[] = [];
    const xs: number[] = [];
    for (let p = 0; p < 256; p++) {
      if (out[i * 256 + p] === 0) {
        ys.push(p >> 4);
        xs.push(p & 15);
      }
    }
    const hh = Math.max(...ys) - Math.min(...ys) + 1;
    const ww = Math.max(...xs) - Math.min(...xs) + 1;
    assert.equal(ys.length, hh * ww, `image ${i}: the erased pixels form a rectangle`);
    assert.ok(ys.length >= 1 && ys.length <= Math.ceil(256 / 3) + 16, `image ${i}: area ${ys.length}`);
  }
});

Deno.test("augment: mixup blends each image with the reversed batch, targets by lambda", () => {
  const x = batch(3, 1, 2, 1);
  const t = oneHot(Int32Array.from([0, 1, 2]), 3);
  const m = mixup(x, t, { b: 3, h: 1, w: 2, c: 1 }, 3, 0.25);
  close(m.x, [0.25 * 0 + 0.75 * 2000, 0.25 * 10 + 0.75 * 2010, 1000, 1010, 0.25 * 2000, 0.25 * 2010 + 0.75 * 10]);
  close(m.targets, [0.25, 0, 0.75, 0, 1, 0, 0.75, 0, 0.25]);
  // Through augmentBatch: lambda read off the targets explains every pixel.
  const b = 4;
  const xb = batch(b, 2, 2, 1);
  const out = augmentBatch(
    xb,
    Int32Array.from([0, 1, 2, 3]),
    4,
    { b, h: 2, w: 2, c: 1 },
    { mixup_alpha: 0.8 },
    Rng.fromSeed(9),
    1,
  );
  const lam = out.targets[0]!;
  assert.ok(lam > 0 && lam < 1);
  for (let i = 0; i < b; i++) {
    const j = b - 1 - i;
    close(
      out.targets.subarray(4 * i, 4 * i + 4),
      [0, 1, 2, 3].map((k) => (k === i ? lam : 0) + (k === j ? 1 - lam : 0)),
    );
    for (let p = 0; p < 4; p++) {
      assert.ok(Math.abs(out.x[4 * i + p]! - (lam * xb[4 * i + p]! + (1 - lam) * xb[4 * j + p]!)) < 1e-2);
    }
  }
});

Deno.test("augment: cutmix pastes a box from the reversed batch; target weights are the areas", () => {
  const x = batch(2, 3, 4, 1);
  const t = oneHot(Int32Array.from([0, 1]), 2);
  const r = cutmix(x, t, { b: 2, h: 3, w: 4, c: 1 }, 2, { y0: 1, y1: 3, x0: 1, x1: 4 });
  assert.equal(r.lam, 1 - 6 / 12);
  assert.deepEqual(Array.from(r.x.subarray(0, 12)), [0, 10, 20, 30, 100, 1110, 1120, 1130, 200, 1210, 1220, 1230]);
  close(r.targets, [0.5, 0.5, 0.5, 0.5]);
  // Through augmentBatch with constant images: the share of pasted pixels is 1 − lam exactly.
  const b = 2;
  const size = 10 * 10;
  const xb = new Float32Array(b * size);
  xb.fill(1, 0, size);
  xb.fill(2, size);
  let mixedBatches = 0;
  for (let seed = 0; seed < 10; seed++) {
    const out = augmentBatch(
      xb,
      Int32Array.from([0, 1]),
      2,
      { b, h: 10, w: 10, c: 1 },
      { cutmix_alpha: 1 },
      Rng.fromSeed(seed),
      1,
    );
    const pasted = out.x.subarray(0, size).filter((v) => v === 2).length;
    close([out.targets[0]!, out.targets[1]!], [1 - pasted / size, pasted / size], 1e-6);
    if (pasted > 0) mixedBatches++;
  }
  assert.ok(mixedBatches >= 5, "boxes are usually non-empty");
});

Deno.test("augment: mix_prob, switch between mixup and cutmix, and mixup_off_epoch", () => {
  const shape = { b: 2, h: 4, w: 4, c: 1 };
  const xb = new Float32Array(32);
  xb.fill(1, 0, 16);
  const labels = Int32Array.from([0, 1]);
  const isMixed = (t: Float32Array) => t[0] !== 1;
  const on = { mixup_alpha: 1, mixup_off_epoch: 2 };
  assert.ok(isMixed(augmentBatch(xb, labels, 2, shape, on, Rng.fromSeed(1), 2).targets));
  assert.ok(!isMixed(augmentBatch(xb, labels, 2, shape, on, Rng.fromSeed(1), 3).targets));
  assert.ok(!isMixed(augmentBatch(xb, labels, 2, shape, { ...on, mix_prob: 0 }, Rng.fromSeed(1), 1).targets));
  // With both on, some batches are cutmix (pixels exactly 0 or 1) and some mixup (in between).
  let cut = 0;
  let mix = 0;
  for (let seed = 0; seed < 40; seed++) {
    const out = augmentBatch(xb, labels, 2, shape, { mixup_alpha: 1, cutmix_alpha: 1 }, Rng.fromSeed(seed), 1);
    if (out.x.every((v) => v === 0 || v === 1)) cut++;
    else mix++;
  }
  assert.ok(cut >= 10 && mix >= 10, `cutmix ${cut}, mixup ${mix}`);
});

Deno.test("augment: the same generator state gives the same bytes, with everything on", () => {
  const opts: Partial<AugmentOptions> = {
    crop_padding: 2,
    hflip: 0.5,
    randaugment_n: 2,
    randaugment_m: 9,
    mixup_alpha: 0.8,
    cutmix_alpha: 1,
    erase_prob: 0.25,
  };
  const shape = { b: 8, h: 8, w: 8, c: 3 };
  const x = batch(8, 8, 8, 3).map((v) => ((v % 255) / 255 - 0.5) / 0.25);
  const labels = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const rng = Rng.fromSeed(7, "augment/epoch-1");
  const state = rng.state();
  const a = augmentBatch(x, labels, 8, shape, opts, rng, 1, norm);
  const b = augmentBatch(x, labels, 8, shape, opts, Rng.fromState(state), 1, norm);
  assert.deepEqual(new Uint8Array(a.x.buffer), new Uint8Array(b.x.buffer));
  assert.deepEqual(new Uint8Array(a.targets.buffer), new Uint8Array(b.targets.buffer));
  const c = augmentBatch(x, labels, 8, shape, opts, Rng.fromSeed(8, "augment/epoch-1"), 1, norm);
  assert.notDeepEqual(Array.from(c.x), Array.from(a.x));
});

Deno.test("RandAugment: pixel ops on [0, 255] values, with timm's magnitudes", () => {
  const op = (name: RandAugmentOp, v: number[], m: number, sign = 1, c = 1) =>
    Array.from(randAugmentOp(name, Float32Array.from(v), 1, v.length / c, c, m, sign, new Array(c).fill(0)));
  assert.deepEqual(op("invert", [0, 55, 255], 5), [255, 200, 0]);
  assert.deepEqual(op("solarize", [0, 127, 128, 255], 5), [0, 127, 127, 0]); // threshold 128
  assert.deepEqual(op("solarize", [0, 127, 255], 0), [0, 127, 255]); // threshold 256: nothing
  assert.deepEqual(op("solarize_add", [0, 127, 128, 200], 10), [110, 237, 128, 200]);
  assert.deepEqual(op("posterize", [0, 63, 64, 200], 5), [0, 0, 64, 192]); // 2 bits kept
  assert.deepEqual(op("posterize", [0, 100, 255], 10), [0, 0, 0]); // 0 bits
  assert.deepEqual(op("auto_contrast", [50, 100, 150], 0), [0, 127.5, 255]);
  assert.deepEqual(op("auto_contrast", [9, 9], 0), [9, 9]);
  close(op("brightness", [100, 200], 10, -1), [10, 20]); // factor 0.1
  close(op("brightness", [100, 200], 10, 1), [190, 255]); // factor 1.9, clipped
  close(op("contrast", [0, 100], 10, -1), [45, 55]); // towards the mean grey 50
  assert.deepEqual(op("color", [0, 100], 10, -1), [0, 100], "grey images have no colour");
  const grey = (19595 * 255) / 65536;
  close(op("color", [255, 0, 0], 10, -1, 3), [grey + 0.1 * (255 - grey), 0.9 * grey, 0.9 * grey]);
  assert.deepEqual(op("sharpness", [3, 1, 4, 1, 5], 0), [3, 1, 4, 1, 5], "factor 1 is the identity");
  const eq = randAugmentOp(
    "equalize",
    Float32Array.from([...new Array(255).fill(0), ...new Array(255).fill(10)]),
    1,
    510,
    1,
    0,
    1,
    [0],
  );
  assert.deepEqual([eq[0], eq[509]], [0, 255]);
});

Deno.test("RandAugment: geometric ops — identity at magnitude 0, translate, rotate direction, fill", () => {
  const img = Float32Array.from({ length: 20 }, (_, i) => 10 * i); // 1×20
  for (const name of ["rotate", "shear_x", "shear_y", "translate_x", "translate_y"] as const) {
    close(randAugmentOp(name, img.slice(), 1, 20, 1, 0, 1, [0]), img, 1e-3);
  }
  // Magnitude 10/9: 0.45·(1/9)·20 = 1 pixel left; the vacated column takes the fill.
  const moved = randAugmentOp("translate_x", img.slice(), 1, 20, 1, 10 / 9, 1, [-1]);
  close(moved, [...Array.from({ length: 19 }, (_, i) => 10 * (i + 1)), -1], 1e-3);
  // A bright pixel right of the centre goes up under a positive (counter-clockwise) rotation.
  const s = 9;
  const dot = new Float32Array(s * s);
  dot[4 * s + 8] = 255;
  const rot = randAugmentOp("rotate", dot, s, s, 1, 10, 1, [0]);
  let best = 0;
  for (let p = 1; p < rot.length; p++) if (rot[p]! > rot[best]!) best = p;
  assert.ok(Math.floor(best / s) < 4 && best % s >= 6, `brightest at row ${Math.floor(best / s)}, column ${best % s}`);
  // Corners leave the image at 30°: they take the fill.
  const flat = randAugmentOp("rotate", new Float32Array(s * s).fill(100), s, s, 1, 10, -1, [7]);
  assert.equal(flat[0], 7);
  assert.equal(flat[4 * s + 4], 100);
});

Deno.test("augment: RandAugment keeps pixels finite and within the normalised range", () => {
  const shape = { b: 64, h: 8, w: 8, c: 3 };
  const norm = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
  const x = new Float32Array(64 * 192);
  const rng = Rng.fromSeed(11);
  for (let p = 0; p < x.length; p++) x[p] = (rng.int(256) / 255 - norm.mean[p % 3]!) / norm.std[p % 3]!;
  const out =
    augmentBatch(x, new Int32Array(64), 1, shape, { randaugment_n: 3, randaugment_m: 10 }, Rng.fromSeed(2), 1, norm).x;
  let changed = 0;
  for (let p = 0; p < out.length; p++) {
    const ch = p % 3;
    const lo = -norm.mean[ch]! / norm.std[ch]! - 1e-4;
    const hi = (1 - norm.mean[ch]!) / norm.std[ch]! + 1e-4;
    assert.ok(Number.isFinite(out[p]!) && out[p]! >= lo && out[p]! <= hi, `value ${out[p]} at ${p}`);
    if (Math.abs(out[p]! - x[p]!) > 1e-3) changed++;
  }
  assert.ok(changed > out.length / 4, `${changed} values changed`);
});

Deno.test("augment: Beta samples and option checks", () => {
  const rng = Rng.fromSeed(4);
  for (const alpha of [0.2, 0.8, 1, 2]) {
    let sum = 0;
    for (let i = 0; i < 2000; i++) {
      const v = sampleBeta(rng, alpha, alpha);
      assert.ok(v >= 0 && v <= 1);
      sum += v;
    }
    assert.ok(Math.abs(sum / 2000 - 0.5) < 0.03, `Beta(${alpha}) mean ${sum / 2000}`);
  }
  assert.deepEqual(resolveAugmentOptions({}), { ...AUGMENT_DEFAULTS });
  // The checks are the config schema's, under the config's key names.
  const bad: [Partial<AugmentOptions>, RegExp][] = [
    [{ hflip: 1.5 }, /^<object>: augment\.hflip: expected a number ≥ 0 and ≤ 1, got 1\.5$/],
    [{ crop_padding: -1 }, /^<object>: augment\.crop_padding: expected an integer ≥ 0/],
    [{ randaugment_m: 11 }, /^<object>: augment\.randaugment_m: expected a number ≥ 0 and ≤ 10, got 11$/],
    [
      { erase_mode: "zeros" as "const" },
      /^<object>: augment\.erase_mode: expected one of const, rand, pixel, got 'zeros'/,
    ],
    [{ erase_count: 0 }, /^<object>: augment\.erase_count: expected an integer ≥ 1/],
    [{ mixup_off_epoch: 1.5 }, /^<object>: augment\.mixup_off_epoch: expected an integer ≥ 0/],
  ];
  for (const [opts, pattern] of bad) {
    assert.throws(
      () => resolveAugmentOptions(opts),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  }
  assert.throws(
    () => augmentBatch(new Float32Array(3), new Int32Array(1), 1, { b: 1, h: 2, w: 2, c: 1 }, {}, rng, 1),
    /x holds 3 values, shape 1×2×2×1 needs 4/,
  );
});
