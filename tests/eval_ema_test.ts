/** `eval --checkpoint ema`: the moving average's own accuracy, the one `ema_val_acc` logged. */
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
  const plain = await vitlab("exp", config, ...flags);
  assert.equal(plain.code, 0, plain.stderr);
  const none = await vitlab("eval", plain.stdout.trim(), "--checkpoint", "ema");
  assert.equal(none.code, 2);
  assert.match(none.stderr, /ema\.safetensors: no such checkpoint \(the run keeps one when train\.ema_decay > 0/);
});
