/**
 * The recipe features wired through configs: CIFAR-format data via data.path, augmentation
 * (crop, flip, RandAugment, mixup/cutmix, erasing) and the weights' EMA — reproducible and
 * exactly resumable like everything else.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { configFromObject } from "../lib/config/load.ts";
import { ConfigError } from "../lib/errors.ts";
import { loadTrainVal } from "../lib/data/splits.ts";
import { InterruptedError } from "../lib/errors.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { readMetrics } from "../lib/runs/metrics.ts";
import { tempDir, useWasm, writeCifar10 } from "./_helpers.ts";

await useWasm();

function recipe(path: string, extra: Record<string, unknown> = {}) {
  return configFromObject({
    model: { patch_size: 8, d_model: 16, depth: 1, heads: 2, mlp_ratio: 2, dropout: 0.1 },
    data: { dataset: "cifar10", path, val_fraction: 0.2 },
    train: { epochs: 2, batch_size: 8, warmup_epochs: 0.5, ema_decay: 0.9, ...extra },
    augment: {
      crop_padding: 4,
      hflip: 0.5,
      randaugment_n: 2,
      mixup_alpha: 0.8,
      cutmix_alpha: 1.0,
      erase_prob: 0.25,
    },
    run: { name: "recipe", backend: "wasm" },
  });
}

Deno.test("cifar10 from data.path with augmentation and EMA: trains, writes EMA metrics and checkpoint, reruns identically", async () => {
  const data = writeCifar10(tempDir(), 16);
  const config = recipe(data);
  const { train, val } = loadTrainVal(config);
  assert.equal(train.count + val.count, 80);
  assert.equal(train.channels, 3);
  const dir = tempDir();
  const a = await runExperiment(config, { runsDir: join(dir, "a") });
  const b = await runExperiment(config, { runsDir: join(dir, "b") });
  const header = Deno.readTextFileSync(join(a.runDir, "metrics.csv")).split("\n")[0];
  assert.equal(
    header,
    "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,epoch_seconds,images_per_second,ema_val_loss,ema_val_acc",
  );
  const rows = readMetrics(join(a.runDir, "metrics.csv"));
  assert.ok(rows.every((r) => Number.isFinite(r.train_loss) && Number.isFinite(r.ema_val_acc!)));
  const ema = Deno.readFileSync(join(a.runDir, "checkpoints/ema.safetensors"));
  const last = Deno.readFileSync(join(a.runDir, "checkpoints/last.safetensors"));
  assert.equal(ema.length, last.length);
  assert.notDeepEqual(ema, last, "the average differs from the weights");
  const strip = (p: string) =>
    Deno.readTextFileSync(join(p, "metrics.csv")).split("\n").map((l) =>
      l.split(",").filter((_, i) => i < 7 || i > 8).join(",")
    );
  assert.deepEqual(strip(b.runDir), strip(a.runDir));
  assert.deepEqual(Deno.readFileSync(join(b.runDir, "checkpoints/ema.safetensors")), ema);
});

Deno.test("with augmentation and EMA, a run stopped mid-epoch resumes to the same bytes", async () => {
  const data = writeCifar10(tempDir(), 16);
  const config = recipe(data, { epochs: 3 });
  const dir = tempDir();
  const full = await runExperiment(config, { runsDir: join(dir, "full") });
  const c = new AbortController();
  const err = await runExperiment(config, {
    runsDir: join(dir, "cut"),
    signal: c.signal,
    events: { onStep: (e) => e.globalStep === 11 && c.abort("SIGTERM") },
  }).catch((e) => e);
  assert.ok(err instanceof InterruptedError, String(err));
  assert.equal(err.exitCode, 143);
  const resumed = await resumeExperiment(err.runDir);
  for (const f of ["last", "best", "ema"]) {
    assert.deepEqual(
      Deno.readFileSync(join(resumed.runDir, "checkpoints", `${f}.safetensors`)),
      Deno.readFileSync(join(full.runDir, "checkpoints", `${f}.safetensors`)),
      `${f}.safetensors`,
    );
  }
});

Deno.test("datasets that read files need data.path; a wrong shape names the dataset and the keys to set", () => {
  for (const dataset of ["cifar10", "cifar100", "idx", "folder"]) {
    assert.throws(() => configFromObject({ data: { dataset } }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, new RegExp(`data.path: dataset ${dataset} reads its files from data.path`));
      return true;
    });
  }
  const data = writeCifar10(tempDir(), 2);
  assert.throws(
    () => loadTrainVal(configFromObject({ data: { dataset: "idx", path: data }, model: { patch_size: 7 } })),
    /train-images-idx3-ubyte/,
  );
});
