import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { join } from "node:path";
import { readSafetensors } from "../lib/runs/safetensors.ts";
import { tempDir } from "./_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs the CLI as a user would, through deno run. */
async function vitlab(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-run=git",
      "cli/main.ts",
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function writeTiny(dir: string): string {
  const path = join(dir, "tiny.yaml");
  Deno.writeTextFileSync(
    path,
    [
      "model: {patch_size: 4, d_model: 16, depth: 1, heads: 2, mlp_ratio: 2}",
      "data: {dataset: synthetic, image_size: 8, num_classes: 3, synthetic_size: 96}",
      "train: {epochs: 2, batch_size: 16, warmup_epochs: 0.5}",
      "run: {backend: wasm}",
    ].join("\n"),
  );
  return path;
}

Deno.test("exp then eval end to end through the CLI", async () => {
  const dir = tempDir();
  const cfg = writeTiny(dir);
  const runs = join(dir, "runs");
  const r = await vitlab("exp", cfg, "--runs-dir", runs, "--set", "train.lr=2e-3", "--name", "smoke");
  assert.equal(r.code, 0, r.stderr);
  // stdout holds the run directory alone, so `run=$(deno task exp ...)` works.
  const runDir = r.stdout.trim();
  assert.equal(r.stdout, `${runDir}\n`);
  assert.match(runDir, new RegExp(`^${runs}/smoke/\\d{8}-\\d{6}-[0-9a-f]{6}$`));
  assert.match(r.stderr, /backend wasm/);
  assert.match(r.stderr, /epoch 2\/2 .*val_acc/);
  for (
    const f of [
      "config.yaml",
      "metrics.csv",
      "summary.json",
      "env.json",
      "checkpoints/last.safetensors",
      "checkpoints/best.safetensors",
    ]
  ) {
    assert.ok(Deno.statSync(join(runDir, f)).isFile, f);
  }
  const csv = Deno.readTextFileSync(join(runDir, "metrics.csv"));
  assert.equal(
    csv.split("\n")[0],
    "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,epoch_seconds,images_per_second",
  );
  const rows = parse(csv, { columns: true }) as Record<string, string>[];
  assert.deepEqual(rows.map((row) => row.epoch), ["1", "2"]);
  assert.equal(rows[1]!.step, String(2 * Math.floor(86 / 16)));
  const summary = JSON.parse(Deno.readTextFileSync(join(runDir, "summary.json")));
  assert.equal(summary.status, "completed");
  assert.equal(summary.epochs_completed, 2);
  assert.equal(summary.backend, "wasm");
  assert.ok(summary.param_count > 0);
  const env = JSON.parse(Deno.readTextFileSync(join(runDir, "env.json")));
  assert.equal(env.deno, Deno.version.deno);
  assert.equal(env.tfjs, "4.22.0");
  assert.ok(env.command.includes("--set"));
  const config = Deno.readTextFileSync(join(runDir, "config.yaml"));
  assert.match(config, /lr: 0\.002/);
  assert.match(config, /name: smoke/);
  const ckpt = readSafetensors(join(runDir, "checkpoints/last.safetensors"));
  assert.equal(ckpt.metadata.epoch, "2");
  assert.match(ckpt.metadata.config!, /d_model: 16/);

  const preds = join(dir, "preds.csv");
  const e = await vitlab(
    "eval",
    runDir,
    "--split",
    "test",
    "--checkpoint",
    "last",
    "--limit",
    "10",
    "--predictions",
    preds,
  );
  assert.equal(e.code, 0, e.stderr);
  const result = JSON.parse(e.stdout);
  assert.equal(result.split, "test");
  assert.equal(result.count, 10);
  assert.ok(result.acc >= 0 && result.acc <= 1);
  assert.ok(Number.isFinite(result.loss));
  const predRows = parse(Deno.readTextFileSync(preds), { columns: true }) as Record<string, string>[];
  assert.equal(predRows.length, 10);
  assert.deepEqual(Object.keys(predRows[0]!), ["index", "label", "prediction", "logit_0", "logit_1", "logit_2"]);
  assert.deepEqual(predRows.map((p) => Number(p.index)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const correct = predRows.filter((p) => p.label === p.prediction).length;
  assert.equal(correct / 10, result.acc);
});

/** The CLI's bad-input contract: exit code, one line naming the problem, no stack trace. */
const ERRORS: { name: string; args: (dir: string) => string[]; code: number; words: RegExp }[] = [
  {
    name: "missing config",
    args: (d) => ["exp", join(d, "nope.yaml")],
    code: 2,
    words: /nope\.yaml: cannot read config file/,
  },
  {
    name: "bad key",
    args: (d) => ["exp", writeTiny(d), "--set", "model.dpth=2"],
    code: 2,
    words: /did you mean 'model.depth'/,
  },
  { name: "bad backend", args: (d) => ["exp", writeTiny(d), "--backend", "tpu"], code: 2, words: /tpu/ },
  { name: "unknown command", args: () => ["train"], code: 2, words: /unknown command 'train'/ },
  { name: "missing argument", args: () => ["exp"], code: 2, words: /missing required argument 'config'/ },
  { name: "eval of a non-run", args: (d) => ["eval", d], code: 2, words: /not a run directory/ },
  {
    name: "eval bad split",
    args: (d) => ["eval", d, "--split", "dev"],
    code: 2,
    words: /--split: expected one of train, val, test/,
  },
  {
    name: "tensorflow-gpu missing",
    args: (d) => ["exp", writeTiny(d), "--backend", "tensorflow-gpu"],
    code: 1,
    words: /tfjs-node-gpu/,
  },
];

for (const c of ERRORS) {
  Deno.test(`CLI error: ${c.name}`, async () => {
    const dir = tempDir();
    const r = await vitlab(...c.args(dir));
    assert.equal(r.code, c.code, r.stderr);
    assert.match(r.stderr, c.words);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal(r.stdout, "");
  });
}

Deno.test("CLI error: a corrupt checkpoint fails eval with exit 1 and leaves files alone", async () => {
  const dir = tempDir();
  const r = await vitlab("exp", writeTiny(dir), "--runs-dir", join(dir, "runs"), "--set", "train.epochs=1");
  assert.equal(r.code, 0, r.stderr);
  const runDir = r.stdout.trim();
  const best = join(runDir, "checkpoints/best.safetensors");
  const bytes = Deno.readFileSync(best);
  Deno.writeFileSync(best, bytes.subarray(0, 100));
  const e = await vitlab("eval", runDir);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /best\.safetensors: not a readable safetensors checkpoint/);
  assert.equal(Deno.readFileSync(best).length, 100);
});
