/**
 * What a resume may change is decided once (RESUMABLE_KEYS): the check follows it, config.yaml
 * then holds what the run last ran with, and the docs name every key.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../lib/config/load.ts";
import { resumeExperiment, runExperiment } from "../lib/runs/experiment.ts";
import { RESUMABLE_KEYS, trajectoryHash } from "../lib/runs/resume_rules.ts";
import { PROJECT_ROOT, tempDir, tinyConfig, useWasm } from "./_helpers.ts";

await useWasm();

Deno.test("every resumable key leaves the trajectory hash alone; every other key changes it", () => {
  const base = tinyConfig();
  const changed: Record<string, string> = {
    "train.epochs": "train.epochs=9",
    "train.eval_batch_size": "train.eval_batch_size=7",
    "run.backend": "run.backend=cpu",
    "run.tags": "run.tags=[x]",
    "run.prefetch": "run.prefetch=0",
    "run.workers": "run.workers=2",
  };
  assert.deepEqual(Object.keys(changed).sort(), [...RESUMABLE_KEYS].sort());
  for (const o of Object.values(changed)) assert.equal(trajectoryHash(tinyConfig([o])), trajectoryHash(base), o);
  for (const o of ["train.lr=1e-2", "model.depth=3", "run.checkpoint_every=2", "augment.hflip=0.5"]) {
    assert.notEqual(trajectoryHash(tinyConfig([o])), trajectoryHash(base), o);
  }
});

Deno.test("a resume that changes resumable keys rewrites config.yaml with exactly those values", async () => {
  const dir = tempDir();
  const { runDir } = await runExperiment(tinyConfig(["train.epochs=1"]), { runsDir: dir });
  const path = join(runDir, "config.yaml");
  const before = Deno.readTextFileSync(path);
  await resumeExperiment(runDir, { overrides: ["train.epochs=2", "run.prefetch=0", "run.tags=[again]"] });
  const after = loadConfig(path);
  assert.equal(after.train.epochs, 2);
  assert.equal(after.run.prefetch, 0);
  assert.deepEqual(after.run.tags, ["again"]);
  assert.notEqual(Deno.readTextFileSync(path), before);
  const rewritten = Deno.readTextFileSync(path);
  await resumeExperiment(runDir, { overrides: ["train.epochs=3", "run.prefetch=0", "run.tags=[again]"] });
  assert.equal(loadConfig(path).train.epochs, 3);
  // Only epochs changed this time: everything else in the file is as it was.
  assert.equal(Deno.readTextFileSync(path).replace(/epochs: 3/, "epochs: 2"), rewritten);
});

Deno.test("docs/reproducibility.md names every key a resume may change", () => {
  const page = Deno.readTextFileSync(join(PROJECT_ROOT, "docs", "reproducibility.md"));
  for (const key of RESUMABLE_KEYS) assert.ok(page.includes(`\`${key}\``), `docs/reproducibility.md lacks ${key}`);
});
