/** Shared test fixtures: a backend, tiny configs, temporary folders. */
import { initBackend } from "../lib/backend/backend.ts";
import { configFromObject } from "../lib/config/load.ts";
import type { Config } from "../lib/config/schema.ts";

/** Initialises the wasm backend (fast and bit-reproducible) once per test file. */
export async function useWasm(): Promise<void> {
  await initBackend("wasm");
}

/**
 * A smoke-size config on synthetic data.
 * @param overrides `key=value` strings applied last
 * @returns the resolved config
 */
export function tinyConfig(overrides: string[] = []): Config {
  return configFromObject({
    model: { patch_size: 4, d_model: 16, depth: 2, heads: 2, mlp_ratio: 2 },
    data: { dataset: "synthetic", image_size: 8, num_classes: 3, synthetic_size: 96 },
    train: { epochs: 2, batch_size: 16, lr: 3e-3, warmup_epochs: 0.5 },
    run: { name: "tiny", backend: "wasm" },
  }, overrides);
}

/** @returns a new temporary folder */
export function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "vitlab-test-" });
}
