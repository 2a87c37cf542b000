import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { loadTrainVal } from "../lib/data/splits.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { clipByGlobalNorm } from "../lib/train/clip.ts";
import { evaluate } from "../lib/train/evaluate.ts";
import { crossEntropy } from "../lib/train/loss.ts";
import type { Param } from "../lib/model/params.ts";
import { VitOptimizer } from "../lib/train/optimizer.ts";
import { learningRate } from "../lib/train/schedule.ts";
import { Trainer } from "../lib/train/trainer.ts";
import { tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

Deno.test("training lowers the loss and lifts accuracy on synthetic data", async () => {
  const config = tinyConfig(["data.synthetic_size=512", "train.epochs=8"]);
  const { train, val } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
  const trainer = new Trainer(config, model, train);
  const norm = trainer.norm;
  const before = await evaluate(model, val, norm, 64);
  for (let e = 0; e < config.train.epochs; e++) await trainer.trainEpoch(e);
  const after = await evaluate(model, val, norm, 64);
  assert.ok(after.loss < before.loss * 0.7, `val loss ${before.loss} -> ${after.loss}`);
  assert.ok(after.acc > 0.8, `val acc ${after.acc}`);
  trainer.dispose();
  model.dispose();
});

Deno.test("tf.memory().numTensors is the same after step 10 and after step 1000", async () => {
  const config = tinyConfig([
    "model.depth=1",
    "model.d_model=8",
    "data.synthetic_size=400",
    "data.val_fraction=0",
    "train.batch_size=4",
    "train.epochs=10",
    "model.dropout=0.1",
  ]);
  const { train } = loadTrainVal(config);
  const model = new VisionTransformer(vitShapeFromConfig(config), 0);
  const trainer = new Trainer(config, model, train);
  const counts = new Map<number, number>();
  for (let e = 0; counts.size < 2; e++) {
    await trainer.trainEpoch(e, {
      onStep: (s) => {
        if (s.globalStep === 10 || s.globalStep === 1000) counts.set(s.globalStep, tf.memory().numTensors);
      },
    });
  }
  assert.equal(counts.get(1000), counts.get(10));
  trainer.dispose();
  model.dispose();
});

/** A parameter record as a model makes them, for a bare variable. */
function param(name: string, variable: tf.Variable, decay: boolean): Param {
  return { name, variable, timmShape: variable.shape, layout: "same", decay };
}

Deno.test("AdamW follows torch.optim.AdamW step by step; decay skips masked variables", () => {
  const p = tf.variable(tf.tensor1d([1, -2]));
  const q = tf.variable(tf.tensor1d([0.5]));
  const params = [param("p", p, true), param("q", q, false)];
  const opt = new VitOptimizer({
    kind: "adamw",
    lr: 0.1,
    weightDecay: 0.5,
    betas: [0.9, 0.999],
    eps: 1e-8,
    momentum: 0,
  });
  // Reference, written out from torch's algorithm in float64.
  let ref = [1, -2];
  let m = [0, 0];
  let v = [0, 0];
  const g = [0.3, -0.7];
  for (let t = 1; t <= 3; t++) {
    opt.applyGradients(params, [tf.tensor1d(g), tf.tensor1d([0.2])]);
    ref = ref.map((x) => x * (1 - 0.1 * 0.5));
    m = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!);
    v = v.map((vi, i) => 0.999 * vi + 0.001 * g[i]! ** 2);
    ref = ref.map((x, i) => x - (0.1 / (1 - 0.9 ** t)) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
  }
  const got = p.dataSync();
  ref.forEach((r, i) => assert.ok(Math.abs(got[i]! - r) < 1e-5, `p[${i}] ${got[i]} vs ${r}`));
  // q is not decayed: after 3 identical-gradient steps Adam moves it by ≈ 3·lr.
  assert.ok(Math.abs(q.dataSync()[0]! - (0.5 - 0.3)) < 1e-4, `q ${q.dataSync()[0]}`);
  assert.equal(opt.step, 3);
  // Moments are kept under timm's names, as checkpoints store them.
  assert.deepEqual([...opt.state().slots.keys()], ["p", "q"]);
  opt.dispose();
  tf.dispose([p, q]);
});

Deno.test("SGD with momentum and Adam with coupled L2 follow torch", () => {
  const p = tf.variable(tf.tensor1d([1]));
  const sgd = new VitOptimizer({
    kind: "sgd",
    lr: 0.1,
    weightDecay: 0.1,
    betas: [0.9, 0.999],
    eps: 1e-8,
    momentum: 0.9,
  });
  let x = 1;
  let buf = 0;
  for (let t = 1; t <= 3; t++) {
    sgd.applyGradients([param("p", p, true)], [tf.scalar(0.5).reshape([1])]);
    const gg = 0.5 + 0.1 * x;
    buf = t === 1 ? gg : 0.9 * buf + gg;
    x -= 0.1 * buf;
  }
  assert.ok(Math.abs(p.dataSync()[0]! - x) < 1e-6, `sgd ${p.dataSync()[0]} vs ${x}`);
  sgd.dispose();
  p.dispose();
});

Deno.test("warmup then cosine to min_lr; constant stays", () => {
  const o = { kind: "cosine" as const, lr: 1, minLr: 0.1, warmupSteps: 4, totalSteps: 14 };
  assert.equal(learningRate(0, o), 0.25);
  assert.equal(learningRate(3, o), 1);
  assert.equal(learningRate(4, o), 1);
  assert.ok(Math.abs(learningRate(13, o) - 0.1) < 1e-12);
  const mid = learningRate(8 + 0.5, o);
  assert.ok(mid < 1 && mid > 0.1);
  assert.equal(learningRate(10, { ...o, kind: "constant" }), 1);
});

Deno.test("label smoothing and clipping", async () => {
  const logits = tf.tensor2d([[2, 0, 0], [0, 0, 3]]);
  const y = tf.tensor1d([0, 2], "int32");
  const plain = (await crossEntropy(logits, y).data())[0]!;
  const lse = (a: number[]) => Math.log(a.reduce((s, v) => s + Math.exp(v), 0));
  const nll = [lse([2, 0, 0]) - 2, lse([0, 0, 3]) - 3];
  assert.ok(Math.abs(plain - (nll[0]! + nll[1]!) / 2) < 1e-6);
  const smooth = (await crossEntropy(logits, y, 0.1).data())[0]!;
  const uni = [lse([2, 0, 0]) - 2 / 3, lse([0, 0, 3]) - 1];
  const expected = (0.9 * (nll[0]! + nll[1]!) + 0.1 * (uni[0]! + uni[1]!)) / 2;
  assert.ok(Math.abs(smooth - expected) < 1e-6, `${smooth} vs ${expected}`);
  const { grads, norm } = clipByGlobalNorm({ a: tf.tensor1d([3]), b: tf.tensor1d([4]) }, 1);
  assert.ok(Math.abs((await norm.data())[0]! - 5) < 1e-6);
  assert.ok(Math.abs((await grads.a!.data())[0]! - 0.6) < 1e-5);
  assert.ok(Math.abs((await grads.b!.data())[0]! - 0.8) < 1e-5);
});
