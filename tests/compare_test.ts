/**
 * `compare`: which keys become columns, sorting, every output format, --group-by, tolerance of
 * unfinished and broken runs, the plot, and that it never loads tfjs. Run directories are
 * written by hand here (config.yaml, metrics.csv, summary.json as exp writes them), so each
 * case states exactly what a run holds; tests/sweep_test.ts compares runs that really trained.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { stringify as toYaml } from "yaml";
import { formatTable } from "../lib/compare/format.ts";
import { loadRuns } from "../lib/compare/load_runs.ts";
import { findFont } from "../lib/compare/png.ts";
import { runTable, sortTable } from "../lib/compare/table.ts";
import { METRIC_COLUMNS } from "../lib/runs/metrics.ts";
import { tempDir, vitlab } from "./_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface FakeRun {
  /** Overrides of the base config below, as `section.key` → value. */
  set?: Record<string, unknown>;
  /** val_acc per epoch; the other metrics follow from it. */
  acc?: number[];
  status?: string;
  /** Text appended to metrics.csv as it is (a row cut short). */
  tail?: string;
  /** Write no summary.json (or this text instead of one). */
  summary?: string | null;
}

/** Writes a run directory as exp leaves it and returns its path. */
function fakeRun(parent: string, id: string, run: FakeRun = {}): string {
  const dir = join(parent, id);
  Deno.mkdirSync(join(dir, "checkpoints"), { recursive: true });
  const config: Record<string, Record<string, unknown>> = {
    model: { patch_size: 4, d_model: 16, depth: 2, heads: 2 },
    data: { dataset: "synthetic", image_size: 8, mean: [0.5] },
    train: { epochs: 3, lr: 0.001, seed: 0 },
    run: { name: "fake", tags: [] },
  };
  for (const [key, value] of Object.entries(run.set ?? {})) {
    const [section, name] = key.split(".") as [string, string];
    config[section]![name] = value;
  }
  Deno.writeTextFileSync(join(dir, "config.yaml"), `# Resolved config of run ${dir}\n${toYaml(config)}`);
  const acc = run.acc ?? [0.5, 0.6, 0.7];
  const rows = acc.map((a, i) =>
    [i + 1, 10 * (i + 1), "1.000000e-3", ...[2 - a, a - 0.05, 1.5 - a, a].map((v) => v.toFixed(6)), 1.5, 100 + 10 * i]
      .join(",")
  );
  Deno.writeTextFileSync(
    join(dir, "metrics.csv"),
    [METRIC_COLUMNS.join(","), ...rows].join("\n") + "\n" + (run.tail ?? ""),
  );
  if (run.summary !== null) {
    const best = Math.max(...acc);
    Deno.writeTextFileSync(
      join(dir, "summary.json"),
      run.summary ?? JSON.stringify({
        status: run.status ?? "completed",
        param_count: 1000 * ((run.set?.["model.depth"] as number | undefined) ?? 2),
        epochs: 3,
        epochs_completed: acc.length,
        best_epoch: acc.indexOf(best) + 1,
        best_val_acc: best,
        wall_seconds: 4.5 * acc.length,
        error: run.status === "failed" ? "boom" : null,
      }),
    );
  }
  return dir;
}

/** Three runs differing in depth and lr: depth 4 is best, depth 1 worst. */
function threeRuns(): string {
  const root = tempDir();
  const g = join(root, "runs", "sweep");
  fakeRun(g, "a-depth1", { set: { "model.depth": 1, "train.lr": 0.002 }, acc: [0.4, 0.5, 0.55] });
  fakeRun(g, "b-depth2", { set: { "model.depth": 2, "train.lr": 0.002 }, acc: [0.5, 0.7, 0.65] });
  fakeRun(g, "c-depth4", { set: { "model.depth": 4, "train.lr": 0.001 }, acc: [0.6, 0.8, 0.9] });
  return join(root, "runs");
}

Deno.test("compare: only the config keys that differ become columns, flattened", async () => {
  const runs = threeRuns();
  const r = await vitlab("compare", runs, "--format", "csv");
  assert.equal(r.code, 0, r.stderr);
  const header = r.stdout.split("\n")[0]!.split(",");
  assert.deepEqual(header, [
    "run",
    "model.depth",
    "train.lr",
    "params",
    "epochs",
    "epochs_total",
    "val_acc",
    "best_epoch",
    "val_loss",
    "wall_s",
    "img_s",
    "status",
    "dir",
  ]);
  // patch_size, data.mean (a list), train.seed, … are equal everywhere: no column.
  assert.ok(!header.includes("model.patch_size") && !header.includes("data.mean") && !header.includes("train.seed"));
  // A list that differs is one column holding the list.
  const more = join(runs, "sweep");
  fakeRun(more, "d-mean", { set: { "model.depth": 1, "train.lr": 0.002, "data.mean": [0.4] } });
  const table = runTable(loadRuns([runs]).runs);
  assert.deepEqual(table.keys, ["model.depth", "data.mean", "train.lr"]);
  assert.deepEqual(table.rows.find((row) => row.run === "d-mean")?.["data.mean"], [0.4]);
});

Deno.test("compare: sorted by best val_acc by default, by any column or config key on request", async () => {
  const runs = threeRuns();
  const order = async (...flags: string[]) => {
    const r = await vitlab("compare", runs, "--format", "json", ...flags);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { run: string }[]).map((row) => row.run).join(" ");
  };
  assert.equal(await order(), "c-depth4 b-depth2 a-depth1");
  // Lower is better for val_loss: ascending unless told otherwise.
  assert.equal(await order("--sort", "val_loss"), "c-depth4 b-depth2 a-depth1");
  assert.equal(await order("--sort", "val_loss:desc"), "a-depth1 b-depth2 c-depth4");
  assert.equal(await order("--sort", "model.depth:desc"), "c-depth4 b-depth2 a-depth1");
  assert.equal(await order("--sort", "run"), "a-depth1 b-depth2 c-depth4");
  // train.lr ties (two runs at 0.002): ties fall back to val_acc, best first.
  assert.equal(await order("--sort", "train.lr:desc"), "b-depth2 a-depth1 c-depth4");
  // A config key that does not differ is accepted (and changes nothing).
  assert.equal(await order("--sort", "model.patch_size"), "c-depth4 b-depth2 a-depth1");
  const bad = await vitlab("compare", runs, "--sort", "accuracy");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^vitlab: error: --sort: unknown column 'accuracy'; choose one of run, model\.depth/m);
  assert.equal(bad.stdout, "");
});

Deno.test("compare: table, csv, json and md output hold the same runs and numbers", async () => {
  const runs = threeRuns();
  const out = async (format: string) => {
    const r = await vitlab("compare", runs, "--format", format);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    return r.stdout;
  };
  // table: aligned columns, no colour on a pipe (and NO_COLOR is set).
  const table = (await out("table")).trimEnd().split("\n");
  assert.equal(table.length, 4);
  assert.match(
    table[0]!,
    /^run +model\.depth +train\.lr +params +epochs +val_acc +best_epoch +val_loss +wall_s +img_s +status$/,
  );
  assert.match(table[1]!, /^c-depth4 +4 +0\.001 +4,000 +3\/3 +0\.9000 +3 +0\.6000 +13\.5 +110 +completed$/);
  const at = table[0]!.indexOf("val_acc") + "val_acc".length;
  for (const line of table.slice(1)) assert.match(line.slice(at - 6, at), /^0\.\d{4}$/); // right-aligned
  assert.ok(!table.join("").includes("\x1b["));
  // csv: every number in full.
  const csv = parseCsv(await out("csv"), { columns: true }) as Record<string, string>[];
  assert.deepEqual(csv.map((r) => [r.run, r.val_acc, r.best_epoch, r.epochs, r.epochs_total, r.status]), [
    ["c-depth4", "0.9", "3", "3", "3", "completed"],
    ["b-depth2", "0.7", "2", "3", "3", "completed"],
    ["a-depth1", "0.55", "3", "3", "3", "completed"],
  ]);
  assert.equal(Number(csv[0]!.img_s), 110);
  assert.ok(csv[0]!.dir!.endsWith("sweep/c-depth4"));
  // json: typed values.
  const json = JSON.parse(await out("json"));
  assert.equal(json.length, 3);
  assert.deepEqual(
    { ...json[1], dir: undefined },
    {
      run: "b-depth2",
      "model.depth": 2,
      "train.lr": 0.002,
      params: 2000,
      epochs: 3,
      epochs_total: 3,
      val_acc: 0.7,
      best_epoch: 2,
      val_loss: 0.85,
      wall_s: 13.5,
      img_s: 110,
      status: "completed",
      dir: undefined,
    },
  );
  // md: a table `deno fmt` leaves as it is, numbers right-aligned.
  const md = await out("md");
  const lines = md.trimEnd().split("\n");
  assert.equal(lines.length, 5);
  assert.match(lines[1]!, /^\| -+ \| -+ \| -+ \| -+: \| -+: \| -+: \| -+: \| -+: \| -+: \| -+: \| -+ \|$/);
  assert.match(lines[2]!, /^\| c-depth4 +\| 4 +\| 0\.001 +\| +4,000 \| +3\/3 \| +0\.9000 \|/);
  const mdFile = join(tempDir(), "table.md");
  Deno.writeTextFileSync(mdFile, md);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "--check", "--line-width", "120", mdFile] })
    .output();
  assert.equal(fmt.code, 0, new TextDecoder().decode(fmt.stderr));
  // colour only when asked (the CLI asks on a terminal without NO_COLOR).
  const loaded = loadRuns([runs]);
  const coloured = formatTable(sortTable(runTable(loaded.runs)), "table", { color: true });
  assert.ok(coloured.includes("\x1b[32mcompleted\x1b[0m"));
  const ansi = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, "g");
  assert.equal(coloured.replace(ansi, ""), table.join("\n") + "\n");
});

Deno.test("compare --group-by: mean ± std over runs that differ only in that key", async () => {
  const root = tempDir();
  const g = join(root, "seeds");
  // depth 2 over three seeds (best val_acc 0.8, 0.9, 1.0), depth 4 over one.
  fakeRun(g, "s0", { set: { "train.seed": 0 }, acc: [0.7, 0.8, 0.75] });
  fakeRun(g, "s1", { set: { "train.seed": 1 }, acc: [0.7, 0.9, 0.85] });
  fakeRun(g, "s2", { set: { "train.seed": 2 }, acc: [0.7, 0.9, 1.0], status: "interrupted" });
  fakeRun(g, "d4", { set: { "train.seed": 0, "model.depth": 4 }, acc: [0.6, 0.6, 0.6] });
  const r = await vitlab("compare", g, "--group-by", "train.seed", "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 2);
  assert.equal(rows[0]["model.depth"], 2);
  assert.deepEqual(rows[0]["train.seed"], [0, 1, 2]);
  assert.equal(rows[0].runs, 3);
  assert.ok(Math.abs(rows[0].val_acc.mean - 0.9) < 1e-12);
  assert.ok(Math.abs(rows[0].val_acc.std - 0.1) < 1e-12);
  assert.equal(rows[0].val_acc.n, 3);
  assert.equal(rows[0].status, "2 completed, 1 interrupted");
  assert.deepEqual(rows[0].run, ["s0", "s1", "s2"]);
  assert.deepEqual(rows[1].val_acc, { mean: 0.6, std: null, n: 1 });

  const table = await vitlab("compare", g, "--group-by", "train.seed");
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^model\.depth +train\.seed +runs +params +epochs +val_acc +val_loss/);
  assert.match(lines[1]!, /^2 +\[0,1,2\] +3 +2,000 +3\.0 +0\.9000 ± 0\.1000 /);
  assert.match(lines[2]!, /^4 +\[0\] +1 +4,000 +3\.0 +0\.6000 /);
  const csv = parseCsv((await vitlab("compare", g, "--group-by", "train.seed", "--format", "csv")).stdout, {
    columns: true,
  }) as Record<string, string>[];
  assert.equal(Number(csv[0]!.val_acc_mean).toFixed(6), "0.900000");
  assert.equal(Number(csv[0]!.val_acc_std).toFixed(6), "0.100000");
  assert.equal(csv[1]!.val_acc_std, "");

  const bad = await vitlab("compare", g, "--group-by", "train.sed");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--group-by: 'train\.sed' is not a config key of these runs/);
});

Deno.test("compare --group-by: keys that change no result (run.workers, run.prefetch) split no group", async () => {
  const root = tempDir();
  const g = join(root, "seeds");
  // Seeds 0 and 1 trained with 1 worker, seed 2 with 2 (byte-identical either way); depth 4 with 2.
  fakeRun(g, "s0", { set: { "train.seed": 0, "run.workers": 1 }, acc: [0.8] });
  fakeRun(g, "s1", { set: { "train.seed": 1, "run.workers": 1, "run.prefetch": 0 }, acc: [0.9] });
  fakeRun(g, "s2", { set: { "train.seed": 2, "run.workers": 2 }, acc: [1.0] });
  fakeRun(g, "d4", { set: { "train.seed": 0, "run.workers": 2, "model.depth": 4 }, acc: [0.6] });
  const r = await vitlab("compare", g, "--group-by", "train.seed", "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 2, r.stdout);
  assert.deepEqual(rows[0]["train.seed"], [0, 1, 2]);
  assert.equal(rows[0].runs, 3);
  assert.ok(Math.abs(rows[0].val_acc.mean - 0.9) < 1e-12);
  // The row still says which values its runs held.
  assert.deepEqual(rows[0]["run.workers"], [1, 2]);
  assert.deepEqual(rows[0]["run.prefetch"], [0, 2]); // unset: the default, 2
  assert.equal(rows[1]["model.depth"], 4);
  assert.deepEqual(rows[1]["run.workers"], [2]);
  const table = await vitlab("compare", g, "--group-by", "train.seed");
  assert.match(table.stdout.split("\n")[1]!, /^2 +\[0,2\] +\[1,2\] +\[0,1,2\] +3 /);
  // Without --group-by each run is its own row, and run.workers is a column like any other.
  const runs = JSON.parse((await vitlab("compare", g, "--format", "json")).stdout);
  assert.deepEqual(runs.map((row: Record<string, unknown>) => row["run.workers"]).sort(), [1, 1, 2, 2]);
});

Deno.test("compare: test scores that eval recorded (evals.json) are columns, and --group-by averages them", async () => {
  const root = tempDir();
  const g = join(root, "seeds");
  const evals = (acc: Record<string, number>) =>
    JSON.stringify(Object.fromEntries(
      Object.entries(acc).map(([key, a]) => {
        const [split, checkpoint] = key.split("/");
        const record = { split, checkpoint, epoch: 3, acc: a, loss: 1 - a, count: 100, backend: "wasm", at: "" };
        return [key, record];
      }),
    ));
  const s0 = fakeRun(g, "s0", { set: { "train.seed": 0 } });
  Deno.writeTextFileSync(join(s0, "evals.json"), evals({ "test/ema": 0.99, "test/best": 0.97, "val/last": 0.5 }));
  const s1 = fakeRun(g, "s1", { set: { "train.seed": 1 } });
  Deno.writeTextFileSync(join(s1, "evals.json"), evals({ "test/ema": 0.97 }));
  const s2 = fakeRun(g, "s2", { set: { "train.seed": 2 } });
  // A key that does not name its own split and checkpoint is not trusted.
  Deno.writeTextFileSync(join(s2, "evals.json"), evals({ "test/ema": 0.5 }).replace('"test/ema"', '"test/last"'));

  const r = await vitlab("compare", g, "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const rows = Object.fromEntries((JSON.parse(r.stdout) as Record<string, unknown>[]).map((row) => [row.run, row]));
  assert.equal(rows["s0"]!.ema_test_acc, 0.99);
  assert.equal(rows["s0"]!.best_test_acc, 0.97);
  assert.equal(rows["s0"]!.last_val_acc, 0.5);
  assert.equal(rows["s1"]!.ema_test_acc, 0.97);
  assert.equal(rows["s1"]!.best_test_acc, null);
  assert.equal(rows["s2"]!.ema_test_acc, null);
  assert.match(r.stderr, /warning: .*s2\/evals\.json: entry 'test\/last' is not an evaluation; ignored/);

  // Test before val, the moving average before best, right after best_epoch; sortable.
  const table = await vitlab("compare", g, "--sort", "ema_test_acc");
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /val_acc +best_epoch +ema_test_acc +best_test_acc +last_val_acc +val_loss/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/)[0]), ["s0", "s1", "s2"]);

  const grouped = await vitlab("compare", g, "--group-by", "train.seed", "--format", "json");
  assert.equal(grouped.code, 0, grouped.stderr);
  const [row] = JSON.parse(grouped.stdout);
  assert.ok(Math.abs(row.ema_test_acc.mean - 0.98) < 1e-12);
  assert.ok(Math.abs(row.ema_test_acc.std - Math.SQRT2 / 100) < 1e-12);
  assert.equal(row.ema_test_acc.n, 2);
  assert.deepEqual(row.best_test_acc, { mean: 0.97, std: null, n: 1 });
  const text = await vitlab("compare", g, "--group-by", "train.seed");
  assert.match(text.stdout, /val_acc +ema_test_acc +best_test_acc +last_val_acc +val_loss/);
  assert.match(text.stdout, / 0\.9800 ± 0\.0141 +0\.9700 +0\.5000 /);
});

Deno.test("compare: runs in progress, failed runs and folders that are no runs", async () => {
  const root = tempDir();
  const g = join(root, "runs", "mixed");
  // In progress: the last row was cut short; it is ignored with a warning.
  fakeRun(g, "running", { acc: [0.5, 0.6], status: "running", tail: "3,30,1.0e-3,0.9" });
  fakeRun(g, "failed", { acc: [0.3], status: "failed", set: { "train.lr": 10 } });
  fakeRun(g, "no-summary", { acc: [0.4, 0.45], summary: null, set: { "train.seed": 1 } });
  fakeRun(g, "bad-summary", { summary: "{not json", set: { "train.seed": 2 } });
  const broken = fakeRun(g, "bad-config");
  Deno.writeTextFileSync(join(broken, "config.yaml"), "model: [unclosed\n");
  Deno.mkdirSync(join(root, "runs", "notes"));
  Deno.writeTextFileSync(join(root, "runs", "notes", "todo.txt"), "more seeds\n");
  Deno.mkdirSync(join(root, "runs", "half"));
  Deno.writeTextFileSync(join(root, "runs", "half", "config.yaml"), "model: {depth: 2}\n");

  const r = await vitlab("compare", join(root, "runs"), "--format", "json", "--verbose");
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  const by = Object.fromEntries(rows.map((row) => [row.run, row]));
  // Named relative to the runs' common parent (runs/mixed): notes/ and half/ hold no runs.
  assert.deepEqual(Object.keys(by).sort(), ["bad-summary", "failed", "no-summary", "running"]);
  assert.equal(by["running"]!.status, "running");
  assert.equal(by["running"]!.epochs, 2);
  assert.equal(by["running"]!.val_acc, 0.6);
  assert.equal(by["failed"]!.status, "failed");
  assert.equal(by["failed"]!.val_acc, 0.3);
  assert.equal(by["no-summary"]!.status, "unknown");
  assert.equal(by["no-summary"]!.wall_s, 3); // the epochs' seconds while there is no summary
  assert.equal(by["bad-summary"]!.status, "unknown");
  assert.equal(by["bad-summary"]!.val_acc, 0.7); // from metrics.csv all the same
  // Warnings and skipped folders go to stderr, one line each.
  const err = r.stderr.trimEnd().split("\n");
  assert.ok(err.every((l) => l.startsWith("vitlab: ")), r.stderr);
  assert.ok(err.some((l) => /warning: .*running\/metrics\.csv line 4: incomplete or unparsable row ignored/.test(l)));
  assert.ok(err.some((l) => /warning: .*bad-summary\/summary\.json: not valid JSON/.test(l)));
  assert.ok(err.some((l) => /warning: .*bad-config\/config\.yaml: not valid YAML .*; run skipped/.test(l)));
  assert.ok(err.some((l) => /skipped .*runs\/notes: no run files/.test(l)));
  assert.ok(err.some((l) => /skipped .*runs\/half: has config\.yaml but no metrics\.csv or summary\.json/.test(l)));
  // Without --verbose: the warnings, not the skipped folders.
  const quiet = await vitlab("compare", join(root, "runs"));
  assert.equal(quiet.code, 0);
  assert.ok(!/vitlab: skipped/.test(quiet.stderr), quiet.stderr);
  assert.match(quiet.stderr, /warning: .*running\/metrics\.csv line 4/);
  assert.match(quiet.stdout, /\nfailed .* failed\n/);
});

Deno.test("compare: usage errors are one line with exit code 2", async () => {
  const runs = threeRuns();
  const empty = tempDir();
  const cases: [string[], RegExp][] = [
    [[runs, "--format", "xml"], /--format: expected one of table, csv, json, md, got 'xml'/],
    [
      [empty],
      /no run directory found under .* \(a run directory holds config\.yaml and metrics\.csv or summary\.json\)/,
    ],
    [[join(empty, "missing")], /missing: no such file or directory/],
    [[runs, "--plot", "curves.pdf"], /--plot: expected a file name ending in \.svg or \.png, got 'curves\.pdf'/],
    [[runs, "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await vitlab("compare", ...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  }
  // Writing the plot can fail after the table: a run-time failure, exit 1.
  const r = await vitlab("compare", runs, "--plot", join(empty, "no", "such", "dir.svg"));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^vitlab: error: cannot write .*dir\.svg \(ENOENT\)$/m);
});

Deno.test("compare --plot: SVG learning curves, one line per run in each panel; PNG", async () => {
  const root = tempDir();
  const g = join(root, "runs");
  fakeRun(g, "p4", { set: { "model.patch_size": 4 }, acc: [0.5, 0.6, 0.7] });
  fakeRun(g, "p2", { set: { "model.patch_size": 2 }, acc: [0.55, 0.7, 0.8] });
  fakeRun(g, "p8", { set: { "model.patch_size": 8 }, acc: [0.3, 0.4, 0.45] });
  fakeRun(g, "p1", { set: { "model.patch_size": 1 }, acc: [0.3], status: "failed", summary: null });
  const svgFile = join(root, "curves.svg");
  const r = await vitlab("compare", g, "--plot", svgFile);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /plot: .*curves\.svg \(4 runs with curves\)/);
  const svg = Deno.readTextFileSync(svgFile);
  assert.match(svg, /^<svg[^>]* width="\d+" height="\d+"/);
  // Vega draws each line of a panel as a <g class="mark-line …"> holding one <path>.
  for (const panel of [0, 1, 2]) {
    const lines = svg.match(new RegExp(`<g class="mark-line role-mark concat_${panel}_[^"]*"[^>]*><path `, "g")) ?? [];
    assert.equal(lines.length, 4, `panel ${panel}`);
  }
  for (const title of ["validation accuracy", "validation loss", "training loss", "model.patch_size", ">epoch<"]) {
    assert.ok(svg.includes(title), title);
  }
  // The legend lists the patch sizes in numeric order.
  const legend = [...svg.matchAll(/<text[^>]*>(\d)<\/text>/g)].map((m) => m[1]).join("");
  assert.ok(legend.includes("1248"), legend);

  // Grouped: seeds of one config share a colour, each still its own line.
  const s = join(root, "seeds");
  // run.workers changes no result: it sets no colour apart either.
  for (const seed of [0, 1]) {
    fakeRun(s, `s${seed}`, { set: { "train.seed": seed, "run.workers": seed + 1 }, acc: [0.5, 0.6 + seed / 10] });
  }
  const grouped = join(root, "grouped.svg");
  assert.equal((await vitlab("compare", s, "--group-by", "train.seed", "--plot", grouped)).code, 0);
  const gsvg = Deno.readTextFileSync(grouped);
  const strokes = [
    ...gsvg.matchAll(/<g class="mark-line role-mark concat_0_[^"]*"[^>]*><path [^>]*stroke="(#[0-9a-f]+)"/g),
  ]
    .map((m) => m[1]);
  assert.equal(strokes.length, 2);
  assert.equal(strokes[0], strokes[1]);

  const pngFile = join(root, "curves.png");
  const p = await vitlab("compare", g, "--plot", pngFile);
  if (findFont() === null) {
    assert.equal(p.code, 1);
    assert.match(p.stderr, /PNG needs a TrueType font/);
    return;
  }
  assert.equal(p.code, 0, p.stderr);
  const png = Deno.readFileSync(pngFile);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset);
  const [width, height] = [view.getUint32(16), view.getUint32(20)];
  const [svgWidth, svgHeight] = /width="(\d+)" height="(\d+)"/.exec(svg)!.slice(1).map(Number) as [number, number];
  assert.deepEqual([width, height], [2 * svgWidth, 2 * svgHeight]); // drawn at twice the SVG's size
});

Deno.test("compare never loads tfjs: cli/compare.ts and lib/compare/ import none of it", async () => {
  const graph = async (file: string) => {
    const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", file], cwd: ROOT }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: { specifier: string; npmPackage?: string }[];
      npmPackages?: Record<string, { dependencies?: string[] }>;
    };
    // Modules (static and dynamic imports alike), then the npm packages they reach.
    const packages = new Set<string>();
    const todo = info.modules.flatMap((m) => (m.npmPackage ? [m.npmPackage] : []));
    while (todo.length) {
      const id = todo.pop()!;
      if (packages.has(id)) continue;
      packages.add(id);
      todo.push(...(info.npmPackages?.[id]?.dependencies ?? []));
    }
    return [...info.modules.map((m) => m.specifier), ...packages];
  };
  const files = [
    "cli/compare.ts",
    ...[...Deno.readDirSync(join(ROOT, "lib/compare"))].map((e) => `lib/compare/${e.name}`).sort(),
  ];
  assert.ok(files.includes("lib/compare/plot.ts") && files.includes("lib/compare/table.ts"));
  for (const file of files) {
    const modules = await graph(file);
    const tf = modules.filter((m) => /tensorflow|tfjs/i.test(m));
    assert.deepEqual(tf, [], `${file} imports ${tf.join(", ")}`);
  }
  // The graph includes the modules compare imports lazily (vega, resvg) ...
  const cli = await graph("cli/compare.ts");
  assert.ok(cli.some((m) => m.includes("vega-lite")) && cli.some((m) => m.includes("resvg")));
  // ... and the check does find tfjs where it is.
  assert.ok((await graph("cli/eval.ts")).some((m) => /tfjs/.test(m)));
});

Deno.test("runs made before a key existed compare as if they had its default", async () => {
  const { readRun } = await import("../lib/compare/read_run.ts");
  const { differingKeys } = await import("../lib/compare/diff_keys.ts");
  const root = tempDir();
  const old = join(root, "old");
  const now = join(root, "new");
  for (const d of [old, now]) Deno.mkdirSync(d);
  Deno.writeTextFileSync(join(old, "config.yaml"), toYaml({ model: { depth: 2 } }));
  Deno.writeTextFileSync(
    join(now, "config.yaml"),
    toYaml({ model: { depth: 3 }, augment: { hflip: 0 }, train: { ema_decay: 0 } }),
  );
  for (const d of [old, now]) Deno.writeTextFileSync(join(d, "metrics.csv"), METRIC_COLUMNS.join(",") + "\n");
  const keys = differingKeys([readRun(old).config, readRun(now).config]);
  assert.deepEqual(keys, ["model.depth"]);
});
