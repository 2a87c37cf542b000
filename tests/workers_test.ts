/**
 * run.workers changes speed only: micro-batches computed by one thread or by replicas on several
 * give byte-identical metrics and checkpoints, also when a run stopped under one count is resumed
 * under another.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DivergedError, InterruptedError } from "../lib/errors.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { recordProducts } from "../lib/backend/blas.ts";
import { loadTrainVal } from "../lib/data/splits.ts";
import { loadConfig } from "../lib/config/load.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { Trainer } from "../lib/train/trainer.ts";
import { DIVERGING, tempDir, tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

// Every column but the timing ones (epoch_seconds, images_per_second).
const metrics = (run: string) =>
  Deno.readTextFileSync(join(run, "metrics.csv")).split("\n").map((l) => {
    const cells = l.split(",");
    return [...cells.slice(0, 7), ...cells.slice(9)].join(",");
  }).join("\n");
const file = (run: string, f: string) => Deno.readFileSync(join(run, "checkpoints", f));
function assertSameBytes(a: string, b: string): void {
  assert.equal(metrics(b), metrics(a));
  for (const f of ["last.safetensors", "best.safetensors"]) {
    const [x, y] = [file(a, f), file(b, f)];
    assert.ok(x.length === y.length && x.every((v, i) => v === y[i]), `${f} differs`);
  }
}

// eval_batch_size 4: validation has several batches, so the replicas share it too.
const COMMON = [
  "train.micro_batch=4",
  "model.dropout=0.1",
  "model.drop_path=0.2",
  "train.epochs=3",
  "train.eval_batch_size=4",
  "train.ema_decay=0.9",
];

Deno.test("run.workers=1, 2 and 3 train byte-identical runs", async () => {
  const dir = tempDir();
  const starts: number[] = [];
  const events = { onStart: (i: { replicas: number }) => starts.push(i.replicas) };
  const one = await runExperiment(tinyConfig([...COMMON, "run.workers=1"]), { runsDir: join(dir, "1"), events });
  const two = await runExperiment(tinyConfig([...COMMON, "run.workers=2"]), { runsDir: join(dir, "2"), events });
  // Three replicas: each worker's copy also needs the other worker's micro-batches.
  const three = await runExperiment(tinyConfig([...COMMON, "run.workers=3"]), { runsDir: join(dir, "3"), events });
  assert.deepEqual(starts, [1, 2, 3], "the later runs really used replicas");
  assertSameBytes(one.runDir, two.runDir);
  assertSameBytes(one.runDir, three.runDir);
});

Deno.test("each replica's own update matches the trainer's for SGD, Adam, layer decay, frozen tensors and clipping", async () => {
  const dir = tempDir();
  for (
    const [i, extra] of [
      ["train.optimizer=sgd", "train.momentum=0.9", "train.grad_clip=0.05"],
      ["train.optimizer=adam", "train.layer_decay=0.7", "train.freeze=[patch_embed, blocks.0.]"],
    ].entries()
  ) {
    const cfg = [...COMMON, "train.epochs=2", ...extra];
    const one = await runExperiment(tinyConfig([...cfg, "run.workers=1"]), { runsDir: join(dir, `${i}-1`) });
    const two = await runExperiment(tinyConfig([...cfg, "run.workers=2"]), { runsDir: join(dir, `${i}-2`) });
    assertSameBytes(one.runDir, two.runDir);
  }
});

Deno.test("a run that diverges with replicas stops with DivergedError: no hang, no stray failure from the step sent ahead", async () => {
  const dir = tempDir();
  const blowUp = [...DIVERGING, "train.micro_batch=16", "run.workers=2"];
  const config = loadConfig(new URL("../configs/vit-tiny.yaml", import.meta.url).pathname, { overrides: blowUp });
  let replicas = 0;
  const events = { onStart: (i: { replicas: number }) => (replicas = i.replicas) };
  const err = await runExperiment(config, { runsDir: dir, events }).catch((e) => e);
  assert.equal(replicas, 2);
  assert.ok(err instanceof DivergedError, String(err));
  assert.match(err.message, /training diverged at epoch \d+, step \d+/);
});

Deno.test("stopped mid-epoch under run.workers=2, resumed under run.workers=1: identical to an uninterrupted run", async () => {
  const dir = tempDir();
  const full = await runExperiment(tinyConfig([...COMMON, "run.workers=1"]), { runsDir: join(dir, "full") });
  const stop = new AbortController();
  let runDir = "";
  await assert.rejects(
    runExperiment(tinyConfig([...COMMON, "run.workers=2"]), {
      runsDir: join(dir, "stopped"),
      signal: stop.signal,
      events: { onStart: (i) => (runDir = i.runDir), onStep: (e) => e.globalStep === 7 && stop.abort("SIGINT") },
    }),
    InterruptedError,
  );
  await resumeExperiment(runDir, { overrides: ["run.workers=1"] });
  assertSameBytes(full.runDir, runDir);
});

Deno.test("on blas with attention's products through OpenBLAS (37 tokens): run.workers=1 and 2 train the same bytes", async () => {
  const dir = tempDir();
  // 24×24 images in patches of 4: 36 patches and the class token, above BLAS_ATTENTION_MIN_TOKENS.
  const blas = [...COMMON, "run.backend=blas", "data.image_size=24", "train.epochs=2"];
  recordProducts(true);
  const one = await runExperiment(tinyConfig([...blas, "run.workers=1"]), { runsDir: join(dir, "1") });
  const scores = recordProducts(false).filter((s) => s.m === 37 && s.n === 37 && s.k === 8);
  assert.ok(scores.length > 0, "attention's scores went through OpenBLAS");
  const two = await runExperiment(tinyConfig([...blas, "run.workers=2"]), { runsDir: join(dir, "2") });
  assertSameBytes(one.runDir, two.runDir);
});

Deno.test("a batch with fewer micro-batches than replicas (a split smaller than the batch) trains the same bytes", async () => {
  const dir = tempDir();
  // 8 synthetic images, 2 held out: every step is one short batch of 6, two micro-batches (4 + 2)
  // for four replicas, so the first one is computed by a worker, not by this thread.
  const small = [...COMMON, "data.synthetic_size=8", "data.val_fraction=0.25"];
  const starts: number[] = [];
  const events = { onStart: (i: { replicas: number }) => starts.push(i.replicas) };
  const one = await runExperiment(tinyConfig([...small, "run.workers=1"]), { runsDir: join(dir, "1"), events });
  const four = await runExperiment(tinyConfig([...small, "run.workers=4"]), { runsDir: join(dir, "4"), events });
  assert.deepEqual(starts, [1, 4]);
  assertSameBytes(one.runDir, four.runDir);
});

Deno.test("replicas switched off for some steps (bench's paired timing): those steps stay on this thread, the bytes stay", async () => {
  // 112 synthetic images: 101 train, 6 steps of 16.
  const config = tinyConfig([...COMMON, "train.epochs=1", "data.synthetic_size=112"]);
  const { train: set } = loadTrainVal(config);
  const train = async (workers: number, off: Set<number>) => {
    const model = new VisionTransformer(vitShapeFromConfig(config), config.train.seed);
    const trainer = new Trainer({ ...config, run: { ...config.run, workers } }, model, set);
    const used: number[] = [];
    try {
      assert.equal(await trainer.startReplicas("wasm"), workers);
      trainer.replicasInUse = !off.has(1);
      await trainer.trainEpoch(0, {
        onStep: (e) => {
          used.push(trainer.timings.replicaSteps);
          trainer.replicasInUse = !off.has(e.step + 1);
        },
      });
      return { used, weights: model.params.list().map((p) => p.variable.dataSync().slice()) };
    } finally {
      trainer.dispose();
      model.dispose();
    }
  };
  const alone = await train(1, new Set());
  assert.deepEqual(alone.used, [0, 0, 0, 0, 0, 0]);
  // Steps 2, 3 and 5 (1-based) on this thread alone; the others on both.
  const mixed = await train(2, new Set([2, 3, 5]));
  assert.deepEqual(mixed.used, [1, 1, 1, 2, 2, 3]);
  mixed.weights.forEach((w, i) => assert.deepEqual(w, alone.weights[i], `parameter ${i}`));
});
