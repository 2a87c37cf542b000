/**
 * `eval --checkpoint ema`: the moving average's own accuracy, the one `ema_val_acc` logged; and
 * the evaluations `eval` keeps in evals.json for `compare`.
 */
import assert from "node:assert/strict";
import { parse as parseCsv } from "csv-parse/sync";
import { tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

Deno.test("eval --checkpoint ema scores the moving average as the last epoch's ema_val_acc; without one, exit 2", async () => {
  const dir = tempDir();
  const config = writeTinyConfig(dir);
  const flags = ["--runs-dir", `${dir}/runs`, "--set", "train.epochs=2", "--quiet"];
  const run = await vitlab("exp", config, ...flags, "--set", "train.ema_decay=0.9");
  assert.equal(run.code, 0, run.stderr);
  const runDir = run.stdout.trim();
  const rows = parseCsv(Deno.readTextFileSync(`${runDir}/metrics.csv`), { columns: true }) as Record<string, string>[];
  const last = rows.at(-1)!;
  const ema = await vitlab("eval", runDir, "--checkpoint", "ema");
  assert.equal(ema.code, 0, ema.stderr);
  const e = JSON.parse(ema.stdout);
  assert.match(e.checkpoint, /ema\.safetensors$/);
  assert.ok(Math.abs(e.acc - Number(last.ema_val_acc)) < 1e-6, `${e.acc} vs ${last.ema_val_acc}`);
  assert.ok(Math.abs(e.loss - Number(last.ema_val_loss)) < 1e-4, `${e.loss} vs ${last.ema_val_loss}`);

  // A whole-split evaluation is kept in evals.json for compare; a partial one, or --no-record, is not.
  const test = await vitlab("eval", runDir, "--checkpoint", "ema", "--split", "test");
  assert.equal(test.code, 0, test.stderr);
  const t = JSON.parse(test.stdout);
  const part = await vitlab("eval", runDir, "--checkpoint", "last", "--split", "test", "--limit", "5");
  assert.equal(part.code, 0, part.stderr);
  const skipped = await vitlab("eval", runDir, "--checkpoint", "best", "--split", "test", "--no-record");
  assert.equal(skipped.code, 0, skipped.stderr);
  const evals = JSON.parse(Deno.readTextFileSync(`${runDir}/evals.json`));
  assert.deepEqual(Object.keys(evals), ["test/ema", "val/ema"]);
  assert.equal(evals["test/ema"].acc, t.acc);
  assert.equal(evals["test/ema"].count, t.count);
  assert.equal(evals["test/ema"].epoch, 2);
  assert.equal(evals["val/ema"].acc, e.acc);
  const compared = await vitlab("compare", runDir, "--format", "json");
  assert.equal(compared.code, 0, compared.stderr);
  const [row] = JSON.parse(compared.stdout);
  assert.equal(row.ema_test_acc, t.acc);
  assert.equal(row.ema_val_acc, e.acc);
  assert.equal(row.best_test_acc, undefined);
  const plain = await vitlab("exp", config, ...flags);
  assert.equal(plain.code, 0, plain.stderr);
  // Where evals.json cannot be written the score still stands, with a one-line warning.
  Deno.mkdirSync(`${plain.stdout.trim()}/evals.json`);
  const unkept = await vitlab("eval", plain.stdout.trim(), "--checkpoint", "last");
  assert.equal(unkept.code, 0, unkept.stderr);
  assert.ok(JSON.parse(unkept.stdout).acc >= 0);
  assert.match(unkept.stderr, /vitlab: warning: not kept for compare: cannot write .*evals\.json: /);
  assert.deepEqual([...Deno.readDirSync(plain.stdout.trim())].filter((e) => e.name.includes(".tmp-")), []);
  const none = await vitlab("eval", plain.stdout.trim(), "--checkpoint", "ema");
  assert.equal(none.code, 2);
  assert.match(none.stderr, /ema\.safetensors: no such checkpoint \(the run keeps one when train\.ema_decay > 0/);
});
