/** `setup`: make the tensorflow / tensorflow-gpu backends usable; prints what TensorFlow sees. */
import { setupNodeBackend } from "../lib/backend/node_setup.ts";
import { UsageError } from "../lib/errors.ts";
import { say } from "./progress.ts";

/**
 * @param backend `tensorflow` or `tensorflow-gpu`
 * @param flags `--libtensorflow` path
 */
export async function setup(backend: string, flags: { libtensorflow?: string }): Promise<void> {
  if (backend !== "tensorflow" && backend !== "tensorflow-gpu") {
    throw new UsageError(`setup: expected tensorflow or tensorflow-gpu, got '${backend}'`);
  }
  const r = await setupNodeBackend(backend, {
    ...(flags.libtensorflow !== undefined ? { libtensorflow: flags.libtensorflow } : {}),
    onProgress: (step) => say(`${step}\n`),
  });
  say(`backend ${r.backend} ready: ${r.device}; binding ${r.binding}\n`);
  console.log(
    JSON.stringify({ backend: r.backend, device: r.device, binding: r.binding, missing_cuda: r.missingCuda }),
  );
}
