import assert from "node:assert/strict";
import { Rng } from "../lib/random.ts";

Deno.test("Rng: same seed and purpose give the same stream; purposes are independent", () => {
  const draw = (r: Rng) => Array.from({ length: 5 }, () => r.nextU32());
  assert.deepEqual(draw(Rng.fromSeed(1, "a")), draw(Rng.fromSeed(1, "a")));
  assert.notDeepEqual(draw(Rng.fromSeed(1, "a")), draw(Rng.fromSeed(1, "b")));
  assert.notDeepEqual(draw(Rng.fromSeed(1, "a")), draw(Rng.fromSeed(2, "a")));
});

Deno.test("Rng: state restores the stream exactly", () => {
  const r = Rng.fromSeed(3, "x");
  r.normal();
  r.int(7);
  const saved = r.state();
  const expected = [r.float(), r.normal(), r.int(1000)];
  const back = Rng.fromState(saved);
  assert.deepEqual([back.float(), back.normal(), back.int(1000)], expected);
});

Deno.test("Rng: uniform ints, normal moments, permutations", () => {
  const r = Rng.fromSeed(4);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 50000; i++) counts[r.int(5)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 400, `bucket ${c}`);
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < 50000; i++) {
    const v = r.normal();
    sum += v;
    sq += v * v;
  }
  assert.ok(Math.abs(sum / 50000) < 0.02);
  assert.ok(Math.abs(sq / 50000 - 1) < 0.03);
  const p = Array.from(r.permutation(100)).sort((a, b) => a - b);
  assert.deepEqual(p, Array.from({ length: 100 }, (_, i) => i));
});
