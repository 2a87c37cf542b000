/**
 * Sweeps: identical runs started at once never share a run directory, and the scripts in
 * experiments/ run end to end at smoke size (runs, then the compare table), stop on a config
 * error before training, split a Slurm array into one run per task, and pass shellcheck.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SCRIPTS = [...Deno.readDirSync(join(ROOT, "experiments"))].map((e) => e.name).filter((n) => n.endsWith(".sh"))
  .sort();

/** Runs an experiments/ script (or a copy, given its absolute path) from the repository root. */
async function script(name: string, env: Record<string, string>, args: string[] = []) {
  const out = await new Deno.Command("bash", {
    args: [name.startsWith("/") ? name : join(ROOT, "experiments", name), ...args],
    cwd: ROOT,
    env: { DENO: Deno.execPath(), NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Smoke size for the scripts: vit-tiny on 64 synthetic images, one epoch. */
const TINY = { CONFIG: "configs/vit-tiny.yaml", EXTRA: "--set data.synthetic_size=64 --set train.epochs=1" };

/** @returns the run directories (holding summary.json) under a folder */
function runDirs(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isDirectory) continue;
      const path = join(dir, e.name);
      try {
        Deno.statSync(join(path, "summary.json"));
        found.push(path);
      } catch {
        walk(path);
      }
    }
  };
  walk(root);
  return found.sort();
}

Deno.test("identical runs started in parallel get distinct, complete run directories", async () => {
  const dir = tempDir();
  const cfg = writeTinyConfig(dir);
  const runs = join(dir, "runs");
  const results = await Promise.all(
    [0, 1, 2].map(() => vitlab("exp", cfg, "--runs-dir", runs, "--set", "train.epochs=1", "--quiet")),
  );
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const dirs = results.map((r) => r.stdout.trim());
  assert.equal(new Set(dirs).size, 3, dirs.join("\n"));
  // Same config, same hash: only the time stamp or the -N suffix sets them apart.
  const ids = dirs.map((d) => new RegExp(`^${runs}/tiny/(\\d{8}-\\d{6})-([0-9a-f]{6})(-\\d+)?$`).exec(d));
  assert.ok(ids.every((m) => m !== null), dirs.join("\n"));
  assert.equal(new Set(ids.map((m) => m![2])).size, 1);
  for (const stamp of new Set(ids.map((m) => m![1]))) {
    const same = ids.filter((m) => m![1] === stamp).map((m) => m![3] ?? "").sort();
    assert.deepEqual(same, ["", "-1", "-2"].slice(0, same.length), `suffixes within ${stamp}`);
  }
  for (const d of dirs) {
    const summary = JSON.parse(Deno.readTextFileSync(join(d, "summary.json")));
    assert.equal(summary.status, "completed");
    assert.equal(summary.epochs_completed, 1);
    assert.equal(summary.run_dir, d);
    assert.equal(Deno.readTextFileSync(join(d, "metrics.csv")).trim().split("\n").length, 2);
    for (const f of ["config.yaml", "env.json", "checkpoints/best.safetensors", "checkpoints/last.safetensors"]) {
      assert.ok(Deno.statSync(join(d, f)).size > 0, `${d}/${f}`);
    }
  }
  // Each run wrote its own files: the same seed and data give the same numbers in each.
  const c = await vitlab("compare", runs, "--format", "json");
  assert.equal(c.code, 0, c.stderr);
  const rows = JSON.parse(c.stdout) as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => r.dir).sort(), [...dirs].sort());
  assert.equal(new Set(rows.map((r) => r.val_acc)).size, 1);
  assert.deepEqual(Object.keys(rows[0]!).filter((k) => k.includes(".")), []); // no config key differs
});

Deno.test("patch-size.sh end to end: tiny runs two at a time, then the compare table", async () => {
  const runs = join(tempDir(), "runs");
  const r = await script("patch-size.sh", { ...TINY, PATCHES: "4 8", JOBS: "2", RUNS_DIR: runs });
  assert.equal(r.code, 0, r.stderr);
  // The estimate comes first, then each run's progress, prefixed with its overrides.
  const estimate = r.stderr.indexOf("estimate: ~");
  assert.ok(estimate >= 0 && estimate < r.stderr.indexOf("[model.patch_size=4] "), r.stderr);
  // Its speed was timed here on the base config (bench), not assumed.
  assert.match(r.stderr, /estimate: .*\(rough: the base config timed here at \d+ images\/s on (wasm|blas|cpu)/);
  assert.match(r.stderr, /^\[model\.patch_size=8\] epoch 1\/1 /m);
  assert.match(r.stderr, /patch-size: 2 of 2 runs finished in \dm\d\ds/);
  // stdout is the compare table alone.
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 3, r.stdout);
  assert.match(
    lines[0]!,
    /^run +model\.patch_size +params +epochs +val_acc +best_epoch +val_loss +wall_s +img_s +status$/,
  );
  const rows = lines.slice(1).map((l) => l.split(/ +/));
  assert.deepEqual(rows.map((c) => c[1]).sort(), ["4", "8"]);
  for (const c of rows) {
    assert.match(c[0]!, /^\d{8}-\d{6}-[0-9a-f]{6}$/);
    assert.equal(c[3], "1/1");
    assert.equal(c.at(-1), "completed");
  }
  assert.equal(runDirs(join(runs, "patch-size")).length, 2);
});

Deno.test("seeds.sh: the per-run table, then mean ± std over the seeds; arguments reach every run", async () => {
  const runs = join(tempDir(), "runs");
  const r = await script(
    "seeds.sh",
    { CONFIG: TINY.CONFIG, SEEDS: "0 1", RUNS_DIR: runs, COMPARE: "--format csv", GFLOPS: "2.5" },
    ["--set", "data.synthetic_size=64", "--set", "train.epochs=1"],
  );
  assert.equal(r.code, 0, r.stderr);
  // GFLOPS= is the speed assumed: nothing is timed.
  assert.match(r.stderr, /estimate: .*\(rough: 2\.5 GFLOP\/s per run; set GFLOPS=/);
  const [perRun, grouped] = r.stdout.split(/\n(?=model\.|train\.seed,)/);
  const a = parseCsv(perRun!, { columns: true }) as Record<string, string>[];
  assert.deepEqual(a.map((row) => row["train.seed"]).sort(), ["0", "1"]);
  assert.ok(a.every((row) => row.epochs_total === "1" && row.status === "completed"));
  const b = parseCsv(grouped!, { columns: true }) as Record<string, string>[];
  assert.equal(b.length, 1);
  assert.equal(b[0]!["train.seed"], "[0,1]");
  assert.equal(b[0]!.runs, "2");
  const accs = a.map((row) => Number(row.val_acc));
  assert.ok(Math.abs(Number(b[0]!.val_acc_mean) - (accs[0]! + accs[1]!) / 2) < 1e-9);
});

Deno.test("transfer.sh: from scratch, fine-tuned and linear probe from SOURCE, each recorded as such", async () => {
  const runs = join(tempDir(), "runs");
  const tiny = ["--set", "data.synthetic_size=64", "--set", "train.epochs=1", "--quiet"];
  const src = await vitlab("exp", TINY.CONFIG, "--runs-dir", runs, ...tiny);
  assert.equal(src.code, 0, src.stderr);
  const source = src.stdout.trim();
  const env = { ...TINY, SOURCE: source, DATASET: "synthetic", LABELS: "45", RUNS_DIR: runs, COMPARE: "--format csv" };
  const r = await script("transfer.sh", env);
  assert.equal(r.code, 0, r.stderr);
  const rows = parseCsv(r.stdout, { columns: true }) as Record<string, string>[];
  assert.deepEqual(rows.map((row) => row["run.tags"]).sort(), ['["fine-tune"]', '["linear-probe"]', '["scratch"]']);
  for (const dir of runDirs(join(runs, "transfer"))) {
    const config = Deno.readTextFileSync(join(dir, "config.yaml"));
    assert.match(config, /subset: 50\n/);
    const envJson = JSON.parse(Deno.readTextFileSync(join(dir, "env.json")));
    const fromSource = /init_from: \//.test(config);
    assert.equal(envJson.init_from !== undefined, fromSource, dir);
    if (/freeze: backbone/.test(config)) assert.ok(fromSource);
  }
  const missing = await script("transfer.sh", { ...TINY, RUNS_DIR: runs });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /SOURCE: set SOURCE to the run directory/);
});

Deno.test("a sweep stops before training when a run's config is wrong; JOBS must be a number", async () => {
  const runs = join(tempDir(), "runs");
  const r = await script("depth-width.sh", {
    ...TINY,
    DEPTHS: "1",
    WIDTHS: "16 30",
    EXTRA: "--set model.heads=4",
    RUNS_DIR: runs,
  });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /estimate: .*model\.d_model=30.*: model\.heads: d_model \(30\) must be divisible by heads \(4\)/,
  );
  assert.equal(existsSync(runs) ? runDirs(runs).length : 0, 0);
  const j = await script("seeds.sh", { ...TINY, JOBS: "two", RUNS_DIR: runs });
  assert.equal(j.code, 2);
  assert.match(j.stderr, /JOBS must be a positive integer, got 'two'/);
});

Deno.test("slurm-array.sh: submits the array and a compare job; each task trains its grid point", async () => {
  const dir = tempDir();
  const runs = join(dir, "runs");
  // A stand-in sbatch that records its arguments and answers with a job id.
  const bin = join(dir, "bin");
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(
    join(bin, "sbatch"),
    `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >> "${dir}/sbatch.log"\necho 4242\n`,
  );
  Deno.chmodSync(join(bin, "sbatch"), 0o755);
  const grid = { ...TINY, DEPTHS: "1 2", WIDTHS: "16 32", RUNS_DIR: runs, NAME: "grid" };
  const submit = await script("slurm-array.sh", { ...grid, PATH: `${bin}:${Deno.env.get("PATH")}`, MAX_PARALLEL: "2" });
  assert.equal(submit.code, 0, submit.stderr);
  assert.equal(submit.stdout, "4242\n");
  const [array, compare] = Deno.readTextFileSync(join(dir, "sbatch.log")).trimEnd().split("\n");
  assert.match(array!, /--array=0-3%2 .*slurm-array\.sh$/);
  assert.match(compare!, /--dependency=afterany:4242 .*--wrap=.* task -q compare .*\/runs\/grid --format md/);
  assert.match(submit.stderr, /estimate: /);

  // Task 2 of the grid (depth 1, 2 × width 16, 32): depth 2, width 16. Slurm runs a copy of
  // the script from its spool folder; submitted by hand (`sbatch --array=2 slurm-array.sh` in
  // experiments/), the task finds the repository from the submission folder.
  const spool = join(dir, "spool", "slurm_script");
  Deno.mkdirSync(join(dir, "spool"));
  Deno.copyFileSync(join(ROOT, "experiments", "slurm-array.sh"), spool);
  const task = await script(spool, {
    ...grid,
    SLURM_ARRAY_TASK_ID: "2",
    SLURM_SUBMIT_DIR: join(ROOT, "experiments"),
  });
  assert.equal(task.code, 0, task.stderr);
  const run = task.stdout.trim();
  assert.ok(run.startsWith(join(runs, "grid") + "/"), run);
  const config = Deno.readTextFileSync(join(run, "config.yaml"));
  assert.match(config, /^ {2}depth: 2$/m);
  assert.match(config, /^ {2}d_model: 16$/m);
  assert.match(config, /^ {2}synthetic_size: 64$/m); // EXTRA reaches the task
  const out = await script("slurm-array.sh", { ...grid, SLURM_ARRAY_TASK_ID: "4", VITLAB_ROOT: ROOT });
  assert.equal(out.code, 2);
  assert.match(out.stderr, /array task 4: the grid has only 4 runs \(0-3\)/);
});

Deno.test("every shell script (experiments/*.sh, tests/setup.sh, .ci/run, the SIMD build) passes shellcheck", async () => {
  assert.ok(SCRIPTS.includes("patch-size.sh") && SCRIPTS.includes("slurm-array.sh"), SCRIPTS.join());
  const files = [...SCRIPTS.map((s) => `experiments/${s}`), "tests/setup.sh", ".ci/run", "lib/backend/simd/build.sh"];
  const out = await new Deno.Command("shellcheck", { args: ["-x", ...files], cwd: ROOT, stdout: "piped" }).output()
    .catch((err: Error) => {
      // A missing program fails this test alone, with the fix, instead of the whole module.
      throw new Error(`cannot run shellcheck (${err.name}); tests/setup.sh installs it: apt-get install shellcheck`);
    });
  assert.equal(out.code, 0, new TextDecoder().decode(out.stdout));
});

/**
 * A stand-in sbatch that runs an array's tasks here, one after another, and the compare job after
 * them. The task numbered CANCEL_TASK is cancelled as Slurm does it once it has trained an epoch:
 * SIGTERM to every process of the task at once.
 */
const FAKE_SBATCH = `#!/usr/bin/env bash
array= wrap= out= script=
for a in "$@"; do
  case $a in
    --array=*) array=\${a#--array=} ;;
    --wrap=*) wrap=\${a#--wrap=} ;;
    --output=*) out=\${a#--output=} ;;
    --*) ;;
    *) script=$a ;;
  esac
done
if [ -n "$wrap" ]; then bash -c "$wrap" >"\${out//%j/78}" 2>&1; echo 78; exit; fi
range=\${array%%\\%*}
for i in $(seq 0 "\${range#0-}"); do
  o=\${out//%A/77}; o=\${o//%a/$i}
  if [ "$i" = "$CANCEL_TASK" ]; then
    SLURM_ARRAY_TASK_ID=$i setsid bash "$script" >"$o" 2>&1 &
    pid=$!
    until grep -q "epoch 1/" "$o" 2>/dev/null; do sleep 0.1; done
    kill -TERM -- "-$pid"
    wait "$pid"
  else
    SLURM_ARRAY_TASK_ID=$i bash "$script" >"$o" 2>&1
  fi
done
echo 77
`;

Deno.test("slurm-array.sh under a stand-in sbatch: a cancelled task ends interrupted, resumes, and compare sees it", async () => {
  const dir = tempDir();
  const runs = join(dir, "runs");
  const bin = join(dir, "bin");
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(join(bin, "sbatch"), FAKE_SBATCH);
  Deno.chmodSync(join(bin, "sbatch"), 0o755);
  const env = {
    CONFIG: "configs/vit-tiny.yaml",
    EXTRA: "--set train.epochs=40 --set data.synthetic_size=512",
    DEPTHS: "1",
    WIDTHS: "16 32",
    RUNS_DIR: runs,
    NAME: "grid",
    CANCEL_TASK: "1",
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  };
  const submit = await script("slurm-array.sh", env);
  assert.equal(submit.code, 0, submit.stderr);
  assert.match(submit.stderr, /as a Slurm array, 2 tasks at a time/);
  const grid = join(runs, "grid");
  // Task output lands beside the runs, never in the repository.
  const outs = [...Deno.readDirSync(grid)].map((e) => e.name).filter((n) => n.startsWith("slurm-")).sort();
  assert.deepEqual(outs, ["slurm-77_0.out", "slurm-77_1.out"]);
  assert.ok(![...Deno.readDirSync(ROOT)].some((e) => e.name.startsWith("slurm-")));
  const statuses = runDirs(grid).map((d) => JSON.parse(Deno.readTextFileSync(join(d, "summary.json"))).status);
  assert.deepEqual(statuses.sort(), ["completed", "interrupted"]);
  const cancelled = Deno.readTextFileSync(join(grid, "slurm-77_1.out"));
  assert.match(
    cancelled,
    /interrupted \(SIGTERM\) at epoch \d+, step \d+ of \d+; resume with: deno task exp --resume /,
  );
  assert.doesNotMatch(cancelled, /Broken pipe|exiting now/);
  const compare = Deno.readTextFileSync(join(grid, "compare.md"));
  assert.match(compare, /\| interrupted +\|/);
  assert.match(compare, /\| completed +\|/);
  // The documented path for a cancelled task: resume its run, which then completes.
  const stopped = runDirs(grid).find((d) => Deno.readTextFileSync(join(d, "summary.json")).includes("interrupted"))!;
  const resumed = await vitlab("exp", "--resume", stopped, "--quiet");
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(JSON.parse(Deno.readTextFileSync(join(stopped, "summary.json"))).status, "completed");
});

Deno.test("a sweep script stopped by SIGTERM stops its runs as interrupted and says how to resume them", async () => {
  const dir = tempDir();
  const child = new Deno.Command("bash", {
    args: [join(ROOT, "experiments", "seeds.sh")],
    cwd: ROOT,
    env: {
      DENO: Deno.execPath(),
      NO_COLOR: "1",
      CONFIG: "configs/vit-tiny.yaml",
      SEEDS: "0 1",
      JOBS: "2",
      RUNS_DIR: dir,
      EXTRA: "--set train.epochs=40 --set data.synthetic_size=512",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Stop it once both runs have trained an epoch.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const found = runDirs(dir).filter((d) => {
      try {
        return Deno.readTextFileSync(join(d, "metrics.csv")).split("\n").length > 2;
      } catch {
        return false;
      }
    });
    if (found.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 143, stderr);
  assert.match(stderr, /seeds: interrupted; resume each stopped run with: deno task exp --resume/);
  const statuses = runDirs(dir).map((d) => JSON.parse(Deno.readTextFileSync(join(d, "summary.json"))).status);
  assert.deepEqual(statuses, ["interrupted", "interrupted"]);
});
