/** compare shows hostile text as text and draws a readable number of runs. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { PLOT_MAX_RUNS, selectPlotRuns } from "../lib/compare/plot.ts";
import type { RunRecord } from "../lib/compare/read_run.ts";
import { tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

Deno.test("a status holding ANSI escapes or newlines is escaped in the table and Markdown, exact in CSV and JSON", async () => {
  const dir = tempDir();
  const r = await vitlab(
    "exp",
    writeTinyConfig(dir),
    "--runs-dir",
    join(dir, "runs"),
    "--set",
    "train.epochs=1",
    "--quiet",
  );
  assert.equal(r.code, 0, r.stderr);
  const path = join(r.stdout.trim(), "summary.json");
  const summary = JSON.parse(Deno.readTextFileSync(path));
  summary.status = "done\u001b[31m\nfake row";
  Deno.writeTextFileSync(path, JSON.stringify(summary));
  for (const format of ["table", "md"]) {
    const out = await vitlab("compare", join(dir, "runs"), "--format", format);
    assert.equal(out.code, 0, out.stderr);
    assert.ok(!out.stdout.includes("\u001b"), format);
    assert.match(out.stdout, /done\\u\{1b\}\[31m\\nfake row/, format);
    assert.equal(out.stdout.trim().split("\n").length, format === "md" ? 3 : 2, format);
  }
  // The data formats quote or escape them themselves and keep the value exact.
  const json = await vitlab("compare", join(dir, "runs"), "--format", "json");
  assert.equal(JSON.parse(json.stdout)[0].status, "done\u001b[31m\nfake row");
  const csv = await vitlab("compare", join(dir, "runs"), "--format", "csv");
  const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
  assert.equal(rows[0]!.status, "done\u001b[31m\nfake row");
});

Deno.test("a plot of more runs than it can show draws the best by val_acc and says so", () => {
  const runs = Array.from({ length: PLOT_MAX_RUNS + 50 }, (_, i) => ({ id: `r${i}`, stats: { bestValAcc: i / 1000 } }));
  const { runs: drawn, note } = selectPlotRuns(runs as unknown as RunRecord[]);
  assert.equal(drawn.length, PLOT_MAX_RUNS);
  assert.equal(drawn[0]!.id, `r${PLOT_MAX_RUNS + 49}`);
  assert.ok(drawn.every((r) => r.stats.bestValAcc! >= 50 / 1000));
  assert.match(note!, new RegExp(`the ${PLOT_MAX_RUNS} runs with the best val_acc of ${PLOT_MAX_RUNS + 50}`));
  assert.deepEqual(selectPlotRuns(runs.slice(0, 3) as unknown as RunRecord[]).note, null);
});
