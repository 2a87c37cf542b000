import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { join } from "node:path";
import { readSafetensors } from "../lib/runs/safetensors.ts";
import { CLI, PROJECT_ROOT, tempDir, vitlab, writeTinyConfig as writeTiny } from "./_helpers.ts";

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

Deno.test("Ctrl-C mid-run: exit 130, status interrupted, resume command printed; the resumed run equals an uninterrupted one", async () => {
  const dir = tempDir();
  const cfg = writeTiny(dir);
  const text = Deno.readTextFileSync(cfg);
  Deno.writeTextFileSync(
    cfg,
    text.replace("synthetic_size: 96", "synthetic_size: 3000").replace("epochs: 2", "epochs: 3"),
  );
  const args = [...CLI, "exp", cfg, "--quiet"];
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "--runs-dir", join(dir, "cut")],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  while (!/epoch 1\/3/.test(stderr)) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += value;
  }
  child.kill("SIGINT");
  for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
  const status = await child.status;
  await child.stdout.cancel();
  assert.equal(status.code, 130, stderr);
  const m = stderr.match(/resume with: deno task exp --resume (\S+)/);
  assert.ok(m, stderr);
  const runDir = m[1]!;
  assert.equal(JSON.parse(Deno.readTextFileSync(join(runDir, "summary.json"))).status, "interrupted");
  const resumed = await vitlab("exp", "--resume", runDir, "--quiet");
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(resumed.stdout.trim(), runDir);
  const full = await vitlab("exp", cfg, "--quiet", "--runs-dir", join(dir, "full"));
  assert.equal(full.code, 0, full.stderr);
  const fullDir = full.stdout.trim();
  const strip = (p: string) =>
    Deno.readTextFileSync(join(p, "metrics.csv")).split("\n").map((l) => l.split(",").slice(0, 7).join(","));
  assert.deepEqual(strip(runDir), strip(fullDir));
  assert.deepEqual(
    Deno.readFileSync(join(runDir, "checkpoints/last.safetensors")),
    Deno.readFileSync(join(fullDir, "checkpoints/last.safetensors")),
  );
});

Deno.test("--rerun starts a new run from a run's config and reproduces it", async () => {
  const dir = tempDir();
  const first = await vitlab("exp", writeTiny(dir), "--runs-dir", join(dir, "runs"), "--quiet");
  assert.equal(first.code, 0, first.stderr);
  const again = await vitlab("exp", "--rerun", first.stdout.trim(), "--runs-dir", join(dir, "runs"), "--quiet");
  assert.equal(again.code, 0, again.stderr);
  assert.notEqual(again.stdout.trim(), first.stdout.trim());
  assert.doesNotMatch(again.stderr, /environment differs/);
  const strip = (p: string) =>
    Deno.readTextFileSync(join(p.trim(), "metrics.csv")).split("\n").map((l) => l.split(",").slice(0, 7).join(","));
  assert.deepEqual(strip(again.stdout), strip(first.stdout));
  const summary = JSON.parse(Deno.readTextFileSync(join(again.stdout.trim(), "summary.json")));
  assert.equal(summary.rerun_of, first.stdout.trim());
});
