/**
 * Every shipped config resolves, opens with the comment block a user reads first, and trains:
 * one optimizer step of its own model, data pipeline and augmentation, at `data.subset` size.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/runs/experiment.ts";
import { tempDir, useWasm, writeCifar10 } from "./_helpers.ts";

await useWasm();

const dir = new URL("../configs/", import.meta.url).pathname;
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort();

/** Data the config needs that no package ships: CIFAR-10 in its official layout, made here. */
function dataOverrides(text: string): string[] {
  if (!/dataset: cifar/.test(text)) return [];
  return [`data.path=${writeCifar10(tempDir(), 40)}`];
}

for (const f of files) {
  Deno.test(`configs/${f} resolves and says what it is for, what it reaches and how to run it`, () => {
    const text = Deno.readTextFileSync(dir + f);
    const header = text.split("\n").filter((l) => l.startsWith("#")).join("\n");
    assert.match(header, /Command: +deno task exp configs\//);
    assert.match(header, /Expected|Target/);
    const config = loadConfig(dir + f, { overrides: /dataset: cifar/.test(text) ? ["data.path=/data"] : [] });
    assert.equal(config.run.name, f.replace(/\.yaml$/, ""));
  });

  Deno.test(`configs/${f} trains one step of its own model, data and augmentation`, async () => {
    const text = Deno.readTextFileSync(dir + f);
    const shipped = loadConfig(dir + f, { overrides: dataOverrides(text) });
    // One step: a subset just over one batch once the validation share is held out. CIFAR's
    // ViT-Lite keeps its model but takes a batch of 8, as its batch 128 does not fit wasm's heap.
    const batch = shipped.data.dataset === "cifar10" ? 8 : shipped.train.batch_size;
    const subset = Math.ceil((batch + 2) / (1 - shipped.data.val_fraction));
    // As many micro-batches as the shipped config cuts its batch into.
    const micro = shipped.train.micro_batch > 0 ? batch / (shipped.train.batch_size / shipped.train.micro_batch) : 0;
    const config = loadConfig(dir + f, {
      overrides: [
        ...dataOverrides(text),
        "train.epochs=1",
        "train.warmup_epochs=0",
        `train.batch_size=${batch}`,
        `train.micro_batch=${micro}`,
        `data.subset=${subset}`,
        "run.backend=wasm",
      ],
    });
    const { runDir, summary } = await runExperiment(config, { runsDir: tempDir() });
    assert.equal(summary.status, "completed");
    assert.equal(summary.steps, 1);
    assert.ok(Number.isFinite(summary.final!.train_loss), `train_loss ${summary.final!.train_loss}`);
    assert.ok(summary.final!.val_acc >= 0 && summary.final!.val_acc <= 1);
    // The run kept every key of the shipped config but the ones this test shrank.
    const ran = loadConfig(join(runDir, "config.yaml"));
    assert.deepEqual(ran.model, shipped.model);
    assert.deepEqual(ran.augment, shipped.augment);
    assert.equal(ran.train.lr, shipped.train.lr);
  });
}
