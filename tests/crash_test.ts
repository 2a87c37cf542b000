/**
 * Nothing is lost under kill -9, concurrent resumes or damaged files: a tiny run is killed at
 * every file write of its life and resumed, and each resumed run must equal the uninterrupted one
 * byte for byte, or be refused with a clear message before its first state. Damaged metrics,
 * summaries and states are repaired from (or refused by) the state, in one line each.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors } from "../lib/runs/safetensors.ts";
import { CLI, PROJECT_ROOT, tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

/** Runs the CLI with extra environment variables. */
async function vitlabEnv(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...CLI, ...args],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** metrics.csv without the timing columns, which differ run to run. */
function metricsWithoutTiming(runDir: string): string {
  return Deno.readTextFileSync(join(runDir, "metrics.csv")).trim().split("\n")
    .map((l) => l.split(",").slice(0, 7).join(",")).join("\n");
}

/** The files an identical run must reproduce byte for byte. */
function fingerprint(runDir: string): string[] {
  const bytes = (f: string) => Array.from(Deno.readFileSync(join(runDir, "checkpoints", f))).join(",");
  return [metricsWithoutTiming(runDir), bytes("last.safetensors"), bytes("best.safetensors")];
}

/** The one run directory under a runs folder (or null). */
function onlyRun(runs: string): string | null {
  try {
    const group = join(runs, "tiny");
    const dirs = [...Deno.readDirSync(group)].map((e) => join(group, e.name));
    return dirs.length === 1 ? dirs[0]! : null;
  } catch {
    return null;
  }
}

const ARGS = ["--set", "train.epochs=2", "--set", "model.dropout=0.1", "--quiet"];

Deno.test("kill -9 at every file write, then --resume: identical to an uninterrupted run, or refused before the first state", async () => {
  const dir = tempDir();
  const cfg = writeTinyConfig(dir);
  const full = await vitlab("exp", cfg, "--runs-dir", join(dir, "full"), ...ARGS);
  assert.equal(full.code, 0, full.stderr);
  const reference = fingerprint(full.stdout.trim());
  const counts = { identical: 0, refused: 0, other: [] as string[] };
  let finished = false;
  // Kill at write 1, 2, … until a run ends before the kill: then every write has been hit.
  for (let batch = 1; !finished && batch < 60; batch += 3) {
    await Promise.all([batch, batch + 1, batch + 2].map(async (n) => {
      const runs = join(dir, `kill-${n}`);
      const killed = await vitlabEnv({ VITLAB_TEST_KILL_AT_WRITE: String(n) }, "exp", cfg, "--runs-dir", runs, ...ARGS);
      if (killed.code === 0) {
        finished = true;
        return;
      }
      assert.equal(killed.code, 137, `write ${n}: ${killed.stderr}`);
      const run = onlyRun(runs);
      assert.ok(run, `write ${n}: one run directory`);
      const resumed = await vitlab("exp", "--resume", run, "--quiet");
      if (resumed.code === 0) {
        const same = JSON.stringify(fingerprint(run)) === JSON.stringify(reference);
        if (same) counts.identical++;
        else counts.other.push(`write ${n}: resumed run differs`);
        const left = [...Deno.readDirSync(run), ...Deno.readDirSync(join(run, "checkpoints"))]
          .map((e) => e.name).filter((name) => /\.tmp-\d+$/.test(name));
        if (Deno.readTextFileSync(join(run, "run.lock")) !== "") left.push("an owner in run.lock");
        if (left.length) counts.other.push(`write ${n}: left ${left.join(", ")}`);
      } else if (/no training state|not a run directory/.test(resumed.stderr) && resumed.code !== 0) {
        counts.refused++;
      } else {
        counts.other.push(`write ${n}: exit ${resumed.code}: ${resumed.stderr.trim().split("\n").at(-1)}`);
      }
    }));
  }
  console.log(
    `kill -9 at each write: ${counts.identical} identical, ${counts.refused} refused, ${counts.other.length} other`,
  );
  assert.ok(finished, "the harness reached the end of the run");
  assert.deepEqual(counts.other, [], counts.other.join("\n"));
  assert.ok(counts.identical >= 8, `${counts.identical} identical`);
  // Writes before the first state (config.yaml, env.json, summary.json, metrics.csv, the state itself).
  assert.ok(counts.refused >= 1 && counts.refused <= 5, `${counts.refused} refused`);
});

/** A finished run one epoch short of `epochs`, to extend with --resume in the tests below. */
async function shortRun(dir: string, epochs = 3): Promise<string> {
  Deno.mkdirSync(dir, { recursive: true });
  const cfg = writeTinyConfig(dir);
  const r = await vitlab("exp", cfg, "--runs-dir", join(dir, "runs"), "--set", `train.epochs=${epochs - 1}`, "--quiet");
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

Deno.test("two resumes of one run at once: one trains, the other is refused in one line", async () => {
  const dir = tempDir();
  const run = await shortRun(dir);
  // Long enough (seconds) that the two overlap.
  const [a, b] = await Promise.all([
    vitlab("exp", "--resume", run, "--set", "train.epochs=60", "--quiet"),
    vitlab("exp", "--resume", run, "--set", "train.epochs=50", "--quiet"),
  ]);
  const results = [a, b].sort((x, y) => x.code - y.code);
  assert.equal(results[0]!.code, 0, results[0]!.stderr);
  assert.equal(results[1]!.code, 2, results[1]!.stderr);
  assert.match(results[1]!.stderr, /is in use by process \d+ on .* since .*; wait for it to end/);
  const summary = JSON.parse(Deno.readTextFileSync(join(run, "summary.json")));
  const config = Deno.readTextFileSync(join(run, "config.yaml"));
  // What config.yaml says is what was trained, and the one resume that ran is recorded.
  assert.equal(summary.resumes.length, 1);
  assert.match(config, new RegExp(`epochs: ${summary.epochs_completed}\\n`));
});

Deno.test("a lock left by a killed process is taken over with a message", async () => {
  const dir = tempDir();
  const run = await shortRun(dir);
  // What a killed owner leaves: its record in run.lock, and no lock held (the system dropped it).
  const host = Deno.hostname();
  Deno.writeTextFileSync(join(run, "run.lock"), JSON.stringify({ pid: 999999999, host, since: "2026-01-01" }));
  Deno.writeTextFileSync(join(run, "checkpoints", "last.safetensors.tmp-999999999"), "half");
  const r = await vitlab("exp", "--resume", run, "--set", "train.epochs=3", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /took over .*run\.lock from process 999999999 on .*, which ended without releasing it/);
  assert.equal(Deno.readTextFileSync(join(run, "run.lock")), "", "released at the end");
  assert.match(
    r.stderr,
    /removed 1 temporary file\(s\) of killed writes: checkpoints\/last\.safetensors\.tmp-999999999/,
  );
});

Deno.test("damaged metrics.csv or summary.json: repaired from the state in one line, rows identical", async () => {
  const dir = tempDir();
  // The same run, undamaged: two epochs, then extended to three.
  const ref = await shortRun(join(dir, "reference"));
  const extended = await vitlab("exp", "--resume", ref, "--set", "train.epochs=3", "--quiet");
  assert.equal(extended.code, 0, extended.stderr);
  const reference = metricsWithoutTiming(ref);
  const damage: [string, (run: string) => void, RegExp][] = [
    [
      "truncated",
      (run) => Deno.truncateSync(join(run, "metrics.csv"), 100),
      /metrics\.csv: .*; rewritten from the state/,
    ],
    [
      "header only",
      (run) =>
        Deno.writeTextFileSync(
          join(run, "metrics.csv"),
          Deno.readTextFileSync(join(run, "metrics.csv")).split("\n")[0] + "\n",
        ),
      /metrics\.csv: held 0 of the state's 2 epochs; the rest restored from the state/,
    ],
    [
      "summary null",
      (run) => Deno.writeTextFileSync(join(run, "summary.json"), "null"),
      /summary\.json: not a JSON object; rebuilt from the state/,
    ],
    [
      "summary cut",
      (run) => Deno.truncateSync(join(run, "summary.json"), 30),
      /summary\.json: not valid JSON; rebuilt from the state/,
    ],
  ];
  for (const [name, hurt, message] of damage) {
    const run = await shortRun(join(dir, name.replace(" ", "-")));
    hurt(run);
    const r = await vitlab("exp", "--resume", run, "--set", "train.epochs=3", "--quiet");
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.equal(metricsWithoutTiming(run), reference, name);
    const summary = JSON.parse(Deno.readTextFileSync(join(run, "summary.json")));
    assert.equal(summary.status, "completed", name);
    assert.equal(summary.epochs_completed, 3, name);
  }
});

/** Rewrites a safetensors file's header with `edit`, keeping its data bytes. */
function editHeader(path: string, edit: (header: Record<string, unknown>) => void): void {
  const bytes = Deno.readFileSync(path);
  const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  edit(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + bytes.length - 8 - len);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes.subarray(8 + len), 8 + text.length);
  Deno.writeFileSync(path, out);
}

Deno.test("an edited state is refused with the field named, never trusted", async () => {
  const dir = tempDir();
  const run = await shortRun(dir);
  const state = join(run, "checkpoints", "state.safetensors");
  const original = Deno.readFileSync(state);
  const edits: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    [
      'completedEpochs: "x"',
      (s) => (s.completedEpochs = "x"),
      /vitlab_state\.completedEpochs: expected an integer ≥ 0, got "x"/,
    ],
    ["completedEpochs: 99", (s) => (s.completedEpochs = 99), /vitlab_state\.rows: expected 99 rows/],
    [
      "best in the future",
      (s) => ((s.best as Record<string, unknown>).epoch = 5),
      /vitlab_state\.best\.epoch: expected at most 2/,
    ],
    ["optimizer step", (s) => (s.optimizerStep = 3), /the optimizer took 3 steps but the position says \d+/],
  ];
  for (const [name, change, message] of edits) {
    Deno.writeFileSync(state, original);
    editHeader(state, (h) => {
      const meta = h.__metadata__ as Record<string, string>;
      const s = JSON.parse(meta.vitlab_state!);
      change(s);
      meta.vitlab_state = JSON.stringify(s);
    });
    const r = await vitlab("exp", "--resume", run, "--set", "train.epochs=4", "--quiet");
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, message, name);
    assert.equal(JSON.parse(Deno.readTextFileSync(join(run, "summary.json"))).epochs_completed, 2, name);
  }
});

Deno.test("checkpoints whose tensors overlap, leave holes or have fractional offsets are refused", () => {
  const good = encodeSafetensors([
    { name: "a", shape: [2], data: Float32Array.from([1, 2]) },
    { name: "b", shape: [2], data: Float32Array.from([3, 4]) },
  ]);
  const decode = (edit: (h: Record<string, { data_offsets: number[] }>) => void) => {
    const dir = tempDir();
    const p = join(dir, "x.safetensors");
    Deno.writeFileSync(p, good);
    editHeader(p, (h) => edit(h as Record<string, { data_offsets: number[] }>));
    return () => decodeSafetensors(Deno.readFileSync(p), "x.safetensors");
  };
  assert.equal(decodeSafetensors(good, "x").tensors.size, 2);
  // b reads a's bytes and the file is padded to the same length: the old coverage sum passed it.
  assert.throws(decode((h) => (h.b!.data_offsets = [0, 8])), /tensor 'b' data \[0, 8\) overlaps|belong to no tensor/);
  assert.throws(decode((h) => (h.a!.data_offsets = [0.5, 8.5])), /not whole byte offsets/);
  assert.throws(decode((h) => (h.b!.data_offsets = [12, 20])), /does not fit the file|belong to no tensor/);
});

/** Mounts a tmpfs of `kib` KiB, if this machine lets the tests (root on Linux). */
async function smallDisk(kib: number): Promise<string | null> {
  const dir = tempDir();
  const out = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir],
    stderr: "null",
  })
    .output().catch(() => null);
  return out?.success ? dir : null;
}

const canMount = await smallDisk(4).then(async (d) => {
  if (d) await new Deno.Command("umount", { args: [d] }).output();
  return d !== null;
});

Deno.test({
  name:
    "a full disk: the error names the file and the run, and a run that cannot start leaves no directory (needs tmpfs mounts: root on Linux)",
  ignore: !canMount,
  fn: async () => {
    for (const [kib, file, left] of [[4, "config.yaml", 0], [48, "state.safetensors", 1]] as const) {
      const disk = (await smallDisk(kib))!;
      try {
        const r = await vitlab("exp", "configs/vit-tiny.yaml", "--runs-dir", join(disk, "runs"), "--quiet");
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`cannot write .*/${file.replace(".", "\\.")}: no space left on the device`));
        const runs = [...Deno.readDirSync(join(disk, "runs", "vit-tiny"))];
        assert.equal(runs.length, left, `${kib} KiB`);
        if (left) {
          assert.match(r.stderr, /\(run directory: /);
          const summary = JSON.parse(
            Deno.readTextFileSync(join(disk, "runs", "vit-tiny", runs[0]!.name, "summary.json")),
          );
          assert.equal(summary.status, "failed");
        }
      } finally {
        await new Deno.Command("umount", { args: [disk] }).output();
      }
    }
  },
});
