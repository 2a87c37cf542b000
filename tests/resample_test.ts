/**
 * timm's weight adaptations: bicubic resizing against torch's (values computed by PyTorch in
 * tests/fixtures/resample_torch.py, and by hand from torch's kernel), the patch-embedding
 * pseudo-inverse's defining property, adapt_input_conv, and the pseudo-inverse itself.
 */
import assert from "node:assert/strict";
import { pinv } from "../lib/model/pinv.ts";
import { adaptInputConv, bicubicMatrix, resampleAbsPosEmbed, resamplePatchEmbed } from "../lib/model/resample.ts";
import { Rng } from "../lib/random.ts";

function randn(n: number, seed: number): Float32Array {
  const rng = Rng.fromSeed(seed, "test");
  return Float32Array.from({ length: n }, () => rng.normal());
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    assert.ok(err <= tol * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]} (error ${err})`);
  }
}

Deno.test("resampling to the same grid, patch and channels returns the values unchanged", () => {
  const pos = randn((1 + 4 * 4) * 3, 1); // [1, 1 + 4², D = 3]
  assert.deepEqual(resampleAbsPosEmbed(pos, 3, 4), pos);
  const weight = randn(2 * 3 * 4 * 4, 2);
  assert.deepEqual(resamplePatchEmbed(weight, 6, 4, 4), weight);
  assert.deepEqual(adaptInputConv(weight, 2, 3, 3), weight);
  // The matrices themselves are the identity at the same size, with and without antialiasing.
  for (const antialias of [true, false]) {
    const m = bicubicMatrix(5, 5, { antialias });
    assert.deepEqual(Array.from(m), Array.from({ length: 25 }, (_, i) => (i % 6 === 0 ? 1 : 0)));
  }
});

Deno.test("bicubic rows are torch's kernels, worked out by hand (4 → 2 samples)", () => {
  // Without antialiasing (a = −0.75): output 0 sits at source 0.5, taps −1 (clamped to 0), 0, 1, 2
  // with weights W(1.5), W(0.5), W(0.5), W(1.5) = −0.09375, 0.59375, 0.59375, −0.09375.
  const plain = bicubicMatrix(4, 2, { antialias: false });
  assertClose(plain.subarray(0, 4), [0.5, 0.59375, -0.09375, 0], 1e-12, "plain row 0");
  assertClose(plain.subarray(4, 8), [0, -0.09375, 0.59375, 0.5], 1e-12, "plain row 1");
  // Antialiased (a = −0.5, support widened ×2): output 0 centred at 1, taps 0..3 at distances
  // (j + 0.5 − 1)/2 = −0.25, 0.25, 0.75, 1.25 → 0.8671875, 0.8671875, 0.2265625, −0.0703125, normalised.
  const aa = bicubicMatrix(4, 2, { antialias: true });
  const raw = [0.8671875, 0.8671875, 0.2265625, -0.0703125];
  const total = raw.reduce((a, b) => a + b, 0);
  assertClose(aa.subarray(0, 4), raw.map((w) => w / total), 1e-12, "antialiased row 0");
  // A hand-made 4×4 grid (D = 1) to 2×2: out[0][0] = Σ_ij r_i r_j g[i][j], r the row above.
  const grid = [1, 2, 3, 4, 0, -1, 5, 2, 7, 1, 0, 3, -2, 6, 1, 1];
  const r = raw.map((w) => w / total);
  let want = 0;
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) want += r[i]! * r[j]! * grid[i * 4 + j]!;
  const out = resampleAbsPosEmbed(Float32Array.from([42, ...grid]), 1, 2);
  assert.equal(out[0], 42, "the class token's row is kept");
  assertClose([out[1]!], [want], 1e-6, "out[0][0]");
});

Deno.test("pos_embed and patch_embed resampling match PyTorch (timm's code) with and without antialiasing", () => {
  const fixture = JSON.parse(Deno.readTextFileSync(new URL("./fixtures/resample_torch.json", import.meta.url)));
  assert.ok(fixture.cases.length >= 10);
  for (const c of fixture.cases) {
    const input = Float32Array.from(c.input as number[]);
    const options = { antialias: c.antialias as boolean };
    const got = c.kind === "pos_embed"
      ? resampleAbsPosEmbed(input, c.dim, c.new, options)
      : resamplePatchEmbed(input, c.kernels, c.old, c.new, options);
    // float32 rounding: torch computes in float32, vitlab in float64 rounded once.
    assertClose(got, c.output, 2e-5, `${c.kind} ${c.old}→${c.new} antialias ${c.antialias}`);
  }
});

Deno.test("a resampled patch kernel sees a resized patch as the original saw the patch (upsampling)", () => {
  // timm's claim for resample_patch_embed: M resizes a P×P patch to P'×P'; with P' > P, M has full
  // column rank, pinv(M)·M = I, so ⟨k', M·x⟩ = ⟨k, x⟩ for every patch x.
  for (const antialias of [true, false]) {
    const [p, q] = [3, 5];
    const kernel = randn(p * p, 3);
    const resized = resamplePatchEmbed(kernel, 1, p, q, { antialias });
    const w = bicubicMatrix(p, q, { antialias });
    const x = randn(p * p, 4);
    let before = 0, after = 0;
    for (let i = 0; i < p * p; i++) before += kernel[i]! * x[i]!;
    for (let oy = 0; oy < q; oy++) {
      for (let ox = 0; ox < q; ox++) {
        let mx = 0; // (M·x)[oy, ox]
        for (let iy = 0; iy < p; iy++) {
          for (let ix = 0; ix < p; ix++) mx += w[oy * p + iy]! * w[ox * p + ix]! * x[iy * p + ix]!;
        }
        after += resized[oy * q + ox]! * mx;
      }
    }
    assertClose([after], [before], 1e-5, `antialias ${antialias}`);
  }
});

Deno.test("adapt_input_conv: summed to 1 channel, repeated and scaled to more (timm's rule)", () => {
  // [O=2, I=3, 1×1]
  const rgb = Float32Array.from([1, 2, 3, 10, 20, 30]);
  assert.deepEqual(Array.from(adaptInputConv(rgb, 2, 3, 1)), [6, 60]);
  // timm: 3 → 4 repeats the channels (0, 1, 2, 0) and scales by 3/4.
  assertClose(adaptInputConv(rgb, 2, 3, 4), [0.75, 1.5, 2.25, 0.75, 7.5, 15, 22.5, 7.5], 1e-7, "3→4");
  // 1 → 3 (which timm leaves alone): repeated and scaled by 1/3, so a gray image copied into
  // three channels gives the same output as before.
  const gray = Float32Array.from([6, 60]);
  assertClose(adaptInputConv(gray, 2, 1, 3), [2, 2, 2, 20, 20, 20], 1e-6, "1→3");
});

Deno.test("pinv: A·pinv(A)·A = A and pinv(A)·A·pinv(A) = pinv(A), tall, wide and rank-deficient", () => {
  const mul = (a: Float64Array, b: Float64Array, n: number, k: number, m: number) => {
    const out = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        for (let l = 0; l < k; l++) out[i * m + j] = out[i * m + j]! + a[i * k + l]! * b[l * m + j]!;
      }
    }
    return out;
  };
  const rank2 = new Float64Array(5 * 4);
  const [u, v] = [randn(5, 7), randn(4, 8)];
  const [s, t] = [randn(5, 9), randn(4, 10)];
  for (let i = 0; i < 5; i++) for (let j = 0; j < 4; j++) rank2[i * 4 + j] = u[i]! * v[j]! + s[i]! * t[j]!;
  const cases: [Float64Array, number, number][] = [
    [Float64Array.from(randn(6 * 3, 5)), 6, 3],
    [Float64Array.from(randn(3 * 6, 6)), 3, 6],
    [rank2, 5, 4],
  ];
  for (const [a, m, n] of cases) {
    const p = pinv(a, m, n);
    assertClose(mul(mul(a, p, m, n, m), a, m, m, n), a, 1e-9, `A·A⁺·A (${m}×${n})`);
    assertClose(mul(mul(p, a, n, m, n), p, n, n, m), p, 1e-9, `A⁺·A·A⁺ (${m}×${n})`);
  }
});
