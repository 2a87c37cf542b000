/**
 * The tensorflow / tensorflow-gpu backends need a libtensorflow that cannot be installed here:
 * their loading and set-up error paths are tested; a real load runs only where set up.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bindingPath, initNodeBackend, nodePackageDir } from "../lib/backend/node_backend.ts";
import { missingLibraries, missingLibtensorflowFiles, setupNodeBackend } from "../lib/backend/node_setup.ts";
import { BackendError, UsageError } from "../lib/errors.ts";
import { tempDir } from "./_helpers.ts";

const gpuDir = nodePackageDir("tensorflow-gpu");
const ready = gpuDir !== null && existsSync(bindingPath(gpuDir));
if (!ready) console.log("tensorflow-gpu load test skipped: no libtensorflow binding (deno task setup-gpu)");

Deno.test("without a binding, both node backends say which command sets them up", async () => {
  for (const name of ["tensorflow", "tensorflow-gpu"] as const) {
    const dir = nodePackageDir(name);
    assert.ok(dir, `${name}'s npm package is pinned in deno.json and installed`);
    if (existsSync(bindingPath(dir))) continue;
    await assert.rejects(initNodeBackend(name, false), (e: unknown) => {
      assert.ok(e instanceof BackendError);
      assert.match(
        e.message,
        name === "tensorflow-gpu" ? /deno task setup-gpu --libtensorflow/ : /deno task setup-cpu/,
      );
      return true;
    });
  }
});

Deno.test("setup refuses a missing path, a non-archive and an archive without libtensorflow, leaving nothing", async () => {
  const dir = tempDir();
  await assert.rejects(setupNodeBackend("tensorflow-gpu", { libtensorflow: join(dir, "none.tar.gz") }), /no such file/);
  Deno.writeTextFileSync(join(dir, "lib.zip"), "x");
  await assert.rejects(
    setupNodeBackend("tensorflow-gpu", { libtensorflow: join(dir, "lib.zip") }),
    /expected a \.tar\.gz/,
  );
  Deno.mkdirSync(join(dir, "payload"));
  Deno.writeTextFileSync(join(dir, "payload", "README"), "not tensorflow");
  const tar = join(dir, "fake.tar.gz");
  await new Deno.Command("tar", { args: ["-czf", tar, "-C", join(dir, "payload"), "README"] }).output();
  await assert.rejects(setupNodeBackend("tensorflow-gpu", { libtensorflow: tar }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /not a libtensorflow 2\.9\.1 archive \(missing lib\/libtensorflow\.so\.2\.9\.1/);
    return true;
  });
  if (!ready) assert.equal(existsSync(join(gpuDir!, "deps")), false, "a rejected archive leaves no deps/ behind");
  await assert.rejects(
    setupNodeBackend("tensorflow-gpu", { libtensorflow: join(dir, "payload") }),
    /not a libtensorflow 2\.9\.1 folder/,
  );
});

Deno.test("libtensorflow and CUDA checks name exactly what is missing", () => {
  const dir = tempDir();
  Deno.mkdirSync(join(dir, "lib"));
  Deno.writeTextFileSync(join(dir, "lib", "libtensorflow.so.2.9.1"), "");
  assert.deepEqual(missingLibtensorflowFiles(dir), [
    "lib/libtensorflow_framework.so.2.9.1",
    "include/tensorflow/c/c_api.h",
  ]);
  const ldconfig = [
    "\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0",
    "\tlibcudnn.so.8 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcudnn.so.8",
  ].join("\n");
  const missing = missingLibraries(ldconfig);
  assert.ok(!missing.includes("libcudart.so.11.0") && !missing.includes("libcudnn.so.8"));
  assert.ok(missing.includes("libcublas.so.11"));
});

Deno.test({
  name:
    "tensorflow-gpu loads where it was set up (needs deno task setup-gpu, libtensorflow-gpu 2.9.1 and CUDA: none can be installed here)",
  ignore: !ready,
  fn: async () => {
    const device = await initNodeBackend("tensorflow-gpu", false);
    assert.match(device, /TensorFlow 2\.9/);
  },
});
