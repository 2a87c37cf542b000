/** Shared test fixtures: a backend, tiny configs, temporary folders. */
import { initBackend } from "../lib/backend/backend.ts";
import { configFromObject } from "../lib/config/load.ts";
import type { Config } from "../lib/config/schema.ts";
import { Rng } from "../lib/random.ts";
import type { AdamHyper } from "../lib/backend/adam_update.ts";
import { join } from "node:path";

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

const ROOT = new URL("..", import.meta.url).pathname;

/** What a CLI run printed and returned. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `deno run` arguments that start the CLI with the permissions its tasks grant. */
export const CLI: string[] = [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
  "--allow-run=git",
  "--allow-ffi",
  "cli/main.ts",
];

/** The project's root folder. */
export const PROJECT_ROOT: string = ROOT;

/**
 * Runs the CLI as a user would, through `deno run` in the project root.
 * @param args arguments after `cli/main.ts`
 * @returns exit code and output
 */
export function vitlab(...args: string[]): Promise<CliResult> {
  return vitlabWith([], ...args);
}

/**
 * {@linkcode vitlab} with more `deno run` flags (`--unstable-webgpu`, as the `doctor` task has).
 * @param denoFlags flags before `cli/main.ts`
 * @param args arguments after it
 * @returns exit code and output
 */
export async function vitlabWith(denoFlags: string[], ...args: string[]): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [CLI[0]!, ...denoFlags, ...CLI.slice(1), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Writes a smoke-size synthetic config.
 * @param dir folder to write into
 * @param extra more YAML lines
 * @returns the file's path
 */
export function writeTinyConfig(dir: string, extra: string[] = []): string {
  const path = `${dir}/tiny.yaml`;
  Deno.writeTextFileSync(
    path,
    [
      "model: {patch_size: 4, d_model: 16, depth: 1, heads: 2, mlp_ratio: 2}",
      "data: {dataset: synthetic, image_size: 8, num_classes: 3, synthetic_size: 96}",
      "train: {epochs: 2, batch_size: 16, warmup_epochs: 0.5}",
      "run: {backend: wasm}",
      ...extra,
    ].join("\n") + "\n",
  );
  return path;
}

/**
 * @param parts byte arrays
 * @returns them joined, in order
 */
export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Writes a small CIFAR-10 in the official binary layout: 1 label byte + 3072 planar RGB bytes.
 * @param root folder to write `cifar-10-batches-bin/` into
 * @param perBatch records in each of the five training batches and the test batch
 * @returns root, for `data.path`
 */
export function writeCifar10(root: string, perBatch: number): string {
  const dir = join(root, "cifar-10-batches-bin");
  Deno.mkdirSync(dir, { recursive: true });
  const rng = Rng.fromSeed(3, "cifar-test");
  const batch = (n: number) => {
    const out = new Uint8Array(n * 3073);
    for (let i = 0; i < n; i++) {
      const label = i % 10;
      out[i * 3073] = label;
      // A class-dependent colour plus noise: learnable, so the run is not pure noise.
      for (let p = 0; p < 3072; p++) {
        out[i * 3073 + 1 + p] = Math.min(255, label * 20 + Math.floor(p / 1024) * 30 + rng.int(40));
      }
    }
    return out;
  };
  for (let b = 1; b <= 5; b++) Deno.writeFileSync(join(dir, `data_batch_${b}.bin`), batch(perBatch));
  Deno.writeFileSync(join(dir, "test_batch.bin"), batch(perBatch));
  return root;
}

/**
 * Adam(W) updates worth testing: plain AdamW with bias corrections, and one with clipping,
 * coupled L2 and no decoupled decay.
 */
export const ADAM_CASES: AdamHyper[] = [
  {
    stepSize: 1e-3 / (1 - 0.9),
    beta1: 0.9,
    beta2: 0.999,
    sqrtBias2: Math.sqrt(1 - 0.999),
    eps: 1e-8,
    gradScale: 1,
    l2: 0,
    decayFactor: 0.99995,
  },
  { stepSize: 2e-3, beta1: 0.8, beta2: 0.99, sqrtBias2: 0.3, eps: 1e-6, gradScale: 0.37, l2: 0.01, decayFactor: 1 },
];

/**
 * Overrides under which vit-tiny's synthetic images (scaled by 1/std = 1e6) and plain SGD at lr
 * 10 without clipping blow up within a few epochs: a run that must diverge.
 */
export const DIVERGING: readonly string[] = [
  "train.lr=10",
  "train.epochs=4",
  "train.grad_clip=0",
  "train.optimizer=sgd",
  "train.warmup_epochs=0",
  "train.schedule=constant",
  "data.std=[1.0e-6]",
  "run.backend=wasm",
];
