/** Batches built ahead on a worker are the batches built on demand, byte for byte. */
import assert from "node:assert/strict";
import { BatchSource, type EpochPlan } from "../lib/data/prefetch.ts";
import { makeSynthetic } from "../lib/data/synthetic.ts";
import { VisionTransformer, vitShapeFromConfig } from "../lib/model/vit.ts";
import { Rng } from "../lib/random.ts";
import { Trainer } from "../lib/train/trainer.ts";
import { tinyConfig, useWasm } from "./_helpers.ts";

const set = makeSynthetic({ count: 50, imageSize: 8, channels: 3, numClasses: 4, seed: 3, split: "train" });
const norm = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
const augment = { crop_padding: 1, hflip: 0.5, mixup_alpha: 0.8, cutmix_alpha: 1, erase_prob: 0.3 };

function plan(epoch: number, fromStep: number, augmentRng: EpochPlan["augmentRng"]): EpochPlan {
  return {
    epoch,
    order: Rng.fromSeed(1, `shuffle/${epoch}`).permutation(set.count),
    batch: 8,
    fromStep,
    toStep: 7,
    augmentRng,
  };
}

async function drain(source: BatchSource, p: EpochPlan) {
  source.startEpoch(p);
  const out = [];
  for (let s = p.fromStep; s < p.toStep; s++) out.push(await source.next());
  return out;
}

Deno.test("prefetched batches equal on-demand ones, across epochs and from a mid-epoch stream state", async () => {
  const direct = new BatchSource(set, norm, augment, 0);
  const ahead = new BatchSource(set, norm, augment, 2);
  try {
    for (const epoch of [0, 1]) {
      const p = plan(epoch, 0, Rng.fromSeed(1, `augment/${epoch}`).state());
      const a = await drain(direct, p);
      const b = await drain(ahead, p);
      assert.equal(b.length, 7);
      assert.deepEqual(b, a, `epoch ${epoch}`);
      // The last batch is partial (50 = 6·8 + 2) and mixing gave soft targets.
      assert.equal(b[6]!.batch.labels.length, 2);
      assert.equal(b[0]!.batch.targets!.length, 8 * 4);
      // Resuming at step 3 from the state stored after step 2 gives the same remaining batches.
      const rest = await drain(ahead, plan(epoch, 3, a[2]!.augmentRng));
      assert.deepEqual(rest, a.slice(3));
    }
    // Without augmentation there is no stream and no soft target.
    const plain = new BatchSource(set, norm, {}, 1);
    const [first] = await drain(plain, plan(0, 0, null));
    plain.close();
    assert.equal(first!.augmentRng, null);
    assert.equal(first!.batch.targets, null);
    // Asking past the end is an error, not a hang.
    await assert.rejects(() => ahead.next(), /no batch left/);
  } finally {
    direct.close();
    ahead.close();
  }
});

Deno.test("an epoch trained with run.prefetch 0 and 3 ends with identical weights", async () => {
  await useWasm();
  const weights = [];
  for (const prefetch of [0, 3]) {
    const config = tinyConfig([`run.prefetch=${prefetch}`, "augment.crop_padding=1", "augment.mixup_alpha=0.5"]);
    const train = makeSynthetic({ count: 96, imageSize: 8, channels: 1, numClasses: 3, seed: 0, split: "train" });
    const model = new VisionTransformer(vitShapeFromConfig(config), 0);
    const trainer = new Trainer(config, model, train);
    await trainer.trainEpoch(0);
    weights.push(await Promise.all(model.params.variables().map(async (v) => Array.from(await v.data()))));
    trainer.dispose();
    model.dispose();
  }
  assert.deepEqual(weights[1], weights[0]);
});
