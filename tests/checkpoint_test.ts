import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { CheckpointError } from "../lib/errors.ts";
import { EVAL } from "../lib/model/context.ts";
import { VisionTransformer, type VitShape } from "../lib/model/vit.ts";
import { loadCheckpoint, saveCheckpoint } from "../lib/runs/checkpoint.ts";
import { decodeSafetensors, encodeSafetensors, readSafetensors } from "../lib/runs/safetensors.ts";
import { tempDir, useWasm } from "./_helpers.ts";

await useWasm();

const SHAPE: VitShape = {
  imageSize: 8,
  channels: 1,
  numClasses: 3,
  patchSize: 4,
  dModel: 8,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  qkvBias: true,
  dropout: 0,
  attnDropout: 0,
  dropPath: 0,
  pool: "cls",
};

Deno.test("safetensors: encode → decode round trip, sorted names, aligned data, metadata", () => {
  const a = { name: "b.weight", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  const b = { name: "a.bias", shape: [2], data: Float32Array.from([-1.5, 7]) };
  const bytes = encodeSafetensors([a, b], { epoch: "3" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLen) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  assert.deepEqual(header["a.bias"], { dtype: "F32", shape: [2], data_offsets: [0, 8] });
  assert.deepEqual(header["b.weight"].data_offsets, [8, 32]);
  const back = decodeSafetensors(bytes, "x");
  assert.deepEqual(Array.from(back.tensors.get("b.weight")!.data), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(back.metadata, { epoch: "3" });
});

Deno.test("save → load into a fresh model gives the same logits", async () => {
  const dir = tempDir();
  const path = join(dir, "m.safetensors");
  const a = new VisionTransformer(SHAPE, 1);
  const b = new VisionTransformer(SHAPE, 2);
  const x = tf.randomNormal([2, 8, 8, 1], 0, 1, "float32", 3) as tf.Tensor4D;
  await saveCheckpoint(path, a, { epoch: "1" });
  const before = Array.from(await tf.tidy(() => b.apply(x, EVAL)).data());
  const meta = loadCheckpoint(path, b);
  assert.equal(meta.epoch, "1");
  assert.equal(meta.format, "pt");
  const la = Array.from(await tf.tidy(() => a.apply(x, EVAL)).data());
  const lb = Array.from(await tf.tidy(() => b.apply(x, EVAL)).data());
  assert.deepEqual(lb, la);
  assert.notDeepEqual(before, la);
  // The file holds timm's layouts: qkv is [3D, D], patch_embed.proj is a [D, C, P, P] conv.
  const file = readSafetensors(path);
  assert.deepEqual(file.tensors.get("blocks.0.attn.qkv.weight")!.shape, [24, 8]);
  assert.deepEqual(file.tensors.get("patch_embed.proj.weight")!.shape, [8, 1, 4, 4]);
  assert.equal(Deno.readDirSync(dir).toArray().length, 1, "no temporary file is left behind");
  a.dispose();
  b.dispose();
});

Deno.test("bad checkpoints: truncated, not JSON, wrong dtype, other model shape — model untouched", async () => {
  const dir = tempDir();
  const good = join(dir, "good.safetensors");
  const model = new VisionTransformer(SHAPE, 1);
  await saveCheckpoint(good, model, {});
  const bytes = Deno.readFileSync(good);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /shorter than its 8-byte header/],
    ["truncated", bytes.subarray(0, bytes.length - 10), /truncated|does not fit/],
    ["huge header length", Uint8Array.from([255, 255, 255, 255, 0, 0, 0, 0, 123]), /exceeds file size/],
    [
      "not JSON",
      Uint8Array.from([...new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]), ...new TextEncoder().encode("{{{{")]),
      /not valid JSON/,
    ],
    ["F16", encodeFake("F16"), /dtype F16/],
  ];
  const target = new VisionTransformer(SHAPE, 9);
  const weightBefore = Array.from(await target.params.get("head.weight").data());
  for (const [name, data, pattern] of cases) {
    const p = join(dir, `${name}.safetensors`);
    Deno.writeFileSync(p, data);
    assert.throws(() => loadCheckpoint(p, target), (e: unknown) => {
      assert.ok(e instanceof CheckpointError, `${name}: ${e}`);
      assert.match(e.message, pattern, name);
      assert.ok(e.message.includes(p), `${name}: message names the file`);
      return true;
    });
  }
  const other = new VisionTransformer({ ...SHAPE, dModel: 12, heads: 3 }, 1);
  assert.throws(
    () => loadCheckpoint(good, other),
    /'patch_embed.proj.weight' has shape \[8,1,4,4\] in the checkpoint but \[12,1,4,4\]/,
  );
  const deeper = new VisionTransformer({ ...SHAPE, depth: 3 }, 1);
  assert.throws(() => loadCheckpoint(good, deeper), /lacks \d+ parameter\(s\) of the model, e.g. 'blocks.2/);
  assert.throws(
    () => loadCheckpoint(join(dir, "missing.safetensors"), target),
    /cannot read checkpoint \(no such file\)/,
  );
  assert.deepEqual(Array.from(await target.params.get("head.weight").data()), weightBefore);
  for (const m of [model, target, other, deeper]) m.dispose();
});

function encodeFake(dtype: string): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ x: { dtype, shape: [2], data_offsets: [0, 4] } }));
  const out = new Uint8Array(8 + header.length + 4);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}
