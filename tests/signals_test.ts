/**
 * Signals reach a run as documented: SIGHUP stops it like SIGTERM, the same signal twice at once
 * is one request, and a later second signal exits at once even in the middle of a long step.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLI, PROJECT_ROOT, tempDir, writeTinyConfig } from "./_helpers.ts";

/** Starts `exp` and resolves once it has trained `epochs` epochs (or its first step, with 0). */
async function startRun(dir: string, extra: string[], ready: RegExp) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...CLI, "exp", writeTinyConfig(dir), "--runs-dir", join(dir, "runs"), "--quiet", ...extra],
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: string[] = [];
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    return chunks.join("");
  })();
  const deadline = Date.now() + 60_000;
  while (!ready.test(chunks.join("")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return { child, stderr };
}

Deno.test("SIGHUP stops a run like SIGTERM: state written, status interrupted, exit 143, resumable", async () => {
  const dir = tempDir();
  const { child, stderr } = await startRun(dir, ["--set", "train.epochs=200"], /epoch 2\//);
  child.kill("SIGHUP");
  const status = await child.status;
  const text = await stderr;
  assert.equal(status.code, 143, text);
  assert.match(text, /SIGHUP: finishing the current step and writing a checkpoint/);
  assert.match(text, /resume with: deno task exp --resume /);
});

/** A step of seconds: the cpu backend on a wide model and a big batch. */
const LONG_STEP = [
  "--backend",
  "cpu",
  "--set",
  "model.d_model=256",
  "--set",
  "model.heads=4",
  "--set",
  "train.batch_size=512",
  "--set",
  "data.synthetic_size=2048",
];

Deno.test("the same signal twice within 2 s is one request: the run still stops cleanly", async () => {
  const dir = tempDir();
  // As a scheduler does it: every process of the job gets the signal, and deno task passes it on.
  const { child, stderr } = await startRun(dir, LONG_STEP, /run directory /);
  await new Promise((r) => setTimeout(r, 1500));
  child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 100));
  child.kill("SIGTERM");
  const status = await child.status;
  const text = await stderr;
  assert.equal(status.code, 143, text);
  assert.doesNotMatch(text, /exiting now|killing it/);
  assert.match(text, /interrupted \(SIGTERM\)/);
});

Deno.test("a second Ctrl-C during a long step exits within about a second", async () => {
  const dir = tempDir();
  const { child, stderr } = await startRun(dir, LONG_STEP, /run directory /);
  await new Promise((r) => setTimeout(r, 1500)); // inside the first step
  child.kill("SIGINT");
  await new Promise((r) => setTimeout(r, 2500));
  const t0 = performance.now();
  child.kill("SIGINT");
  const status = await child.status;
  const seconds = (performance.now() - t0) / 1000;
  const text = await stderr;
  assert.ok(status.code === 130 || status.signal === "SIGKILL" || status.code === 137, `exit ${status.code}: ${text}`);
  assert.ok(seconds < 3, `took ${seconds.toFixed(1)} s to exit`);
});
