/**
 * The config schema is the one source of every augmentation default and range: the augmenters
 * take what the loader checked and add no default or check of their own; a value out of the
 * schema's range fails at load time under its config key; an error thrown while the prefetch
 * worker builds a batch reaches the caller as its own class and one line, with no trace printed.
 */
import assert from "node:assert/strict";
import * as augmentModule from "../lib/data/augment.ts";
import { AUGMENT_DEFAULTS, augmentBatch, augmentEnabled, type AugmentOptions } from "../lib/data/augment.ts";
import * as randAugmentModule from "../lib/data/randaugment.ts";
import { errorFromWorker, workerErrorData } from "../lib/data/prefetch.ts";
import { configFromObject, loadConfig } from "../lib/config/load.ts";
import { type FieldSpec, SCHEMA } from "../lib/config/schema.ts";
import {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  DivergedError,
  RunError,
  UsageError,
  VitlabError,
} from "../lib/errors.ts";
import { Rng } from "../lib/random.ts";
import { PROJECT_ROOT, tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

type Key = keyof AugmentOptions;
const KEYS = Object.keys(SCHEMA.augment) as Key[];
const SCHEMA_DEFAULTS = Object.fromEntries(KEYS.map((k) => [k, SCHEMA.augment[k].default])) as AugmentOptions;

function schemaMax(spec: FieldSpec): number {
  assert.ok((spec.kind === "float" || spec.kind === "int") && spec.max !== undefined, "a numeric key with a max");
  return spec.max;
}
const M_MAX = schemaMax(SCHEMA.augment.randaugment_m);

/** Every augmentation switched on, each key away from its schema default. */
const ON: AugmentOptions = {
  crop_padding: 1,
  hflip: 0.5,
  randaugment_n: 2,
  randaugment_m: 6,
  randaugment_mstd: 1,
  mixup_alpha: 0.8,
  cutmix_alpha: 1,
  mix_prob: 0.5,
  mix_switch_prob: 0.9,
  mixup_off_epoch: 3,
  erase_prob: 1,
  erase_mode: "rand",
  erase_count: 2,
};

const SHAPE = { b: 8, h: 8, w: 8, c: 3 };
const NORM = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
const IMAGES = (() => {
  const rng = Rng.fromSeed(5, "images");
  const x = new Float32Array(8 * 8 * 8 * 3);
  for (let p = 0; p < x.length; p++) x[p] = (rng.int(256) / 255 - NORM.mean[p % 3]!) / NORM.std[p % 3]!;
  return x;
})();
const LABELS = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);

/**
 * Twelve batches in a row from one stream, in epoch 1 (mixing on) and epoch 4 (past ON's
 * mixup_off_epoch): enough draws that every key of ON changes something.
 */
function run(opts: Partial<AugmentOptions>): unknown[] {
  const out: unknown[] = [];
  for (const epoch of [1, 4]) {
    const rng = Rng.fromSeed(3, `augment/${epoch}`);
    for (let i = 0; i < 12; i++) {
      const b = augmentBatch(IMAGES, LABELS, 8, SHAPE, opts, rng, epoch, NORM);
      out.push(Array.from(b.x), Array.from(b.targets));
    }
    out.push(rng.state());
  }
  return out;
}

Deno.test("augment config: a key left out is the schema's default, for every augment key", () => {
  assert.deepEqual(Object.keys(ON).sort(), [...KEYS].sort(), "ON sets every key");
  for (const key of KEYS) {
    assert.notDeepEqual(ON[key], SCHEMA_DEFAULTS[key], `ON.${key} differs from its default`);
    const without: Partial<AugmentOptions> = { ...ON };
    delete without[key];
    const left = run(without);
    assert.deepEqual(left, run({ ...ON, [key]: SCHEMA_DEFAULTS[key] }), `augment.${key} left out ≠ its schema default`);
    // The key matters here, so the equality above would catch a default of augment.ts's own.
    assert.notDeepEqual(left, run(ON), `augment.${key} changes nothing in this test`);
    assert.equal(augmentEnabled(without), augmentEnabled({ ...ON, [key]: SCHEMA_DEFAULTS[key] }));
  }
});

Deno.test("augment config: the schema's defaults build the augmenter that is off", () => {
  assert.equal(augmentEnabled(SCHEMA_DEFAULTS), false);
  const rng = Rng.fromSeed(1, "augment/1");
  const before = rng.state();
  const out = augmentBatch(IMAGES, LABELS, 8, SHAPE, SCHEMA_DEFAULTS, rng, 1, NORM);
  assert.deepEqual(out.x, IMAGES, "pixels unchanged");
  assert.deepEqual(Array.from(out.targets), Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0)), "one-hot");
  assert.deepEqual(rng.state(), before, "no random draw");
});

Deno.test("augment config: augment.ts and randaugment.ts export no default or range of their own", () => {
  const values = (mod: Record<string, unknown>) =>
    Object.entries(mod).filter(([, v]) => typeof v !== "function").map(([k]) => k).sort();
  // AUGMENT_DEFAULTS stays exported (mod.ts has it) as the schema's defaults, not a copy of them.
  assert.deepEqual(values(augmentModule), ["AUGMENT_DEFAULTS"]);
  assert.deepEqual({ ...AUGMENT_DEFAULTS }, SCHEMA_DEFAULTS);
  assert.ok(Object.isFrozen(AUGMENT_DEFAULTS));
  // RandAugment's only exported value is its list of op names.
  assert.deepEqual(values(randAugmentModule), ["RANDAUGMENT_OPS"]);
  assert.ok(randAugmentModule.RANDAUGMENT_OPS.every((op) => typeof op === "string"));
});

Deno.test("augment config: randaugment_m's range is timm's 0–10 scale, and the ops' ranges end at its top", () => {
  // timm clips magnitudes to 10 unless magnitude_max is raised; vitlab offers no magnitude_max.
  assert.equal(M_MAX, 10);
  assert.equal(SCHEMA.augment.randaugment_m.default, 9);
  // At the schema's top each op reaches the end of timm's argument range, not beyond it.
  const op = (name: randAugmentModule.RandAugmentOp, v: number[]) =>
    Array.from(randAugmentModule.randAugmentOp(name, Float32Array.from(v), 1, v.length, 1, M_MAX, 1, [0]));
  assert.deepEqual(op("posterize", [255, 128]), [0, 0], "0 bits kept");
  assert.deepEqual(op("solarize", [0, 255]), [255, 0], "threshold 0: every value inverted");
  assert.deepEqual(op("solarize_add", [0, 127, 128]), [110, 237, 128], "+110 below 128");
  // Magnitude noise never takes an op past that top: on black 1-pixel images every RandAugment
  // output is 0 or 255 (invert, solarize) or at most 110 (solarize_add); unclipped noise around
  // the top would often add more.
  const b = 3000;
  const black = new Float32Array(b);
  const opts = { randaugment_n: 1, randaugment_m: M_MAX, randaugment_mstd: 5 };
  const out = augmentBatch(black, new Int32Array(b), 1, { b, h: 1, w: 1, c: 1 }, opts, Rng.fromSeed(4), 1).x;
  let added = 0;
  for (const v of out) {
    const raw = Math.round(v * 255 * 1000) / 1000;
    assert.ok(raw === 0 || raw === 255 || (raw > 0 && raw <= 110), `raw value ${raw}`);
    if (raw > 0 && raw < 255) added++;
  }
  assert.ok(added > 20, `solarize_add applied ${added} times`);
});

Deno.test("augment config: augment.randaugment_m above the schema's max is a ConfigError at load time, naming the key", () => {
  const expected = (value: number) =>
    new RegExp(`augment\\.randaugment_m: expected a number ≥ 0 and ≤ ${M_MAX}, got ${value}$`);
  for (const value of [M_MAX + 0.5, 15, 30]) {
    assert.throws(
      () => configFromObject({}, [`augment.randaugment_m=${value}`]),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith(`--set augment.randaugment_m=${value}: `) &&
        expected(value).test(e.message) && !e.message.includes("data.augment"),
    );
  }
  // The command line, through loadConfig.
  assert.throws(
    () =>
      loadConfig(`${PROJECT_ROOT}configs/vit-tiny.yaml`, {
        overrides: ["augment.randaugment_n=2", "augment.randaugment_m=15"],
      }),
    (e: unknown) => e instanceof ConfigError && expected(15).test(e.message),
  );
  // In a file, the error points at the value.
  const dir = tempDir();
  try {
    const path = writeTinyConfig(dir, ["augment:", "  randaugment_n: 2", "  randaugment_m: 15"]);
    assert.throws(
      () => loadConfig(path),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith(`${path}:7:18: `) && expected(15).test(e.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  // The top itself loads.
  assert.equal(configFromObject({}, [`augment.randaugment_m=${M_MAX}`]).augment.randaugment_m, M_MAX);
});

Deno.test("augment config CLI: randaugment_m at the schema's top trains an epoch; above it, exit 2 before any run directory", async () => {
  const dir = tempDir();
  try {
    const config = writeTinyConfig(dir);
    const runs = `${dir}/runs`;
    const set = (...kv: string[]) => kv.flatMap((s) => ["--set", s]);
    // Prefetching is on (run.prefetch defaults to 2): the batches are built in the worker.
    const ok = await vitlab(
      "exp",
      config,
      ...set("train.epochs=1", "augment.randaugment_n=2", `augment.randaugment_m=${M_MAX}`),
      "--runs-dir",
      runs,
      "--quiet",
    );
    assert.equal(ok.code, 0, ok.stderr);
    const runDir = ok.stdout.trim();
    const rows = Deno.readTextFileSync(`${runDir}/metrics.csv`).trim().split("\n");
    assert.equal(rows.length, 2, "a header and one epoch");
    const cols = rows[0]!.split(",");
    const row = rows[1]!.split(",");
    assert.ok(Number.isFinite(Number(row[cols.indexOf("train_loss")])), rows[1]!);
    assert.doesNotMatch(ok.stderr, /Uncaught|^\s+at /m);

    const fresh = `${dir}/fresh-runs`;
    const bad = await vitlab(
      "exp",
      config,
      ...set("augment.randaugment_n=2", "augment.randaugment_m=15"),
      "--runs-dir",
      fresh,
    );
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(
      bad.stderr,
      "vitlab: error: --set augment.randaugment_m=15: augment.randaugment_m: expected a number ≥ 0 and ≤ 10, got 15\n",
    );
    assert.equal(bad.stdout, "");
    assert.throws(() => Deno.statSync(fresh), Deno.errors.NotFound, "no run directory was created");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("prefetch worker errors: rebuilt on the main thread as the same class, one line", () => {
  const cases: [unknown, new (...args: never[]) => Error, string, number | null][] = [
    [new ConfigError("augment.hflip: expected a number ≥ 0 and ≤ 1, got 2"), ConfigError, "ConfigError", 2],
    [new UsageError("bad flag"), UsageError, "UsageError", 2],
    [new DataError("train.bin: truncated"), DataError, "DataError", 1],
    [new CheckpointError("last.safetensors: unreadable"), CheckpointError, "CheckpointError", 1],
    [new BackendError("no wasm"), BackendError, "BackendError", 1],
    [new RunError("disk full"), RunError, "RunError", 1],
    // No message-only constructor: rebuilt as a VitlabError, with its name and exit code.
    [new DivergedError(1, 2, "loss is NaN"), VitlabError, "DivergedError", 1],
    [new RangeError("Invalid typed array length: -1536"), RangeError, "RangeError", null],
    [new TypeError("x is not a function"), TypeError, "TypeError", null],
  ];
  for (const [thrown, Class, name, exitCode] of cases) {
    const err = errorFromWorker(structuredClone(workerErrorData(thrown)));
    assert.ok(err instanceof Class, `${name} rebuilt as ${err.constructor.name}`);
    assert.equal(err.name, name);
    assert.equal(err.message, (thrown as Error).message);
    assert.equal(err instanceof VitlabError ? err.exitCode : null, exitCode, name);
    assert.equal(err.stack, (thrown as Error).stack, "the worker's stack, for --debug");
  }
  // Only the first line of a message crosses; anything thrown becomes an Error.
  const multi = errorFromWorker(workerErrorData(new DataError("first line\n    at somewhere")));
  assert.ok(multi instanceof DataError);
  assert.equal(multi.message, "first line");
  const thrownString = errorFromWorker(workerErrorData("plain string\nsecond"));
  assert.equal(thrownString.constructor, Error);
  assert.equal(thrownString.message, "plain string");
});

Deno.test("prefetch worker errors: a batch that throws in the worker rejects next() with that error, and nothing is printed", async () => {
  // No config value can make the worker throw any more (the loader rejects them first), so the
  // worker is given a malformed image set through BatchSource's own API: negative image height,
  // which makes building the batch throw a RangeError (an invalid typed-array length) in the worker.
  // A child process, because an uncaught worker error is printed, not thrown, and would not fail a test.
  const code = `
    import { BatchSource } from "./lib/data/prefetch.ts";
    import { makeSynthetic } from "./lib/data/synthetic.ts";
    import { Rng } from "./lib/random.ts";
    const set = makeSynthetic({ count: 40, imageSize: 8, channels: 3, numClasses: 4, seed: 3, split: "train" });
    const bad = { ...set, height: -set.height };
    const norm = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
    const out = [];
    for (const ahead of [2, 0]) {
      const source = new BatchSource(bad, norm, { hflip: 0.5, randaugment_n: 2 }, ahead);
      source.startEpoch({
        epoch: 0, order: Rng.fromSeed(0, "shuffle/0").permutation(set.count), batch: 8, fromStep: 0, toStep: 5,
        augmentRng: Rng.fromSeed(0, "augment/0").state(),
      });
      const errors = [];
      for (let i = 0; i < 2; i++) {
        try {
          await source.next();
          errors.push(null);
        } catch (err) {
          errors.push({ cls: err.constructor.name, name: err.name, message: err.message });
        }
      }
      source.close();
      out.push(errors);
    }
    console.log(JSON.stringify(out));
  `;
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(child.stdout);
  const stderr = new TextDecoder().decode(child.stderr);
  assert.equal(child.code, 0, stderr);
  assert.equal(stderr, "", "no Uncaught (in worker) and no stack trace");
  const [worker, direct] = JSON.parse(stdout) as { cls: string; name: string; message: string }[][];
  const expected = { cls: "RangeError", name: "RangeError", message: "Invalid typed array length: -1536" };
  // The step that failed and every step after it rethrow the worker's error.
  assert.deepEqual(worker, [expected, expected]);
  // Built on the main thread (run.prefetch 0), the same batch throws the same error.
  assert.deepEqual(direct![0], expected);
});
