/** The PyTorch peer: ../shared/bench/torch_vit.py run with the same model shape and batch. */
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import type { Config } from "../config/schema.ts";
import { UsageError } from "../errors.ts";

/** Where the peer script lives beside a vitlab checkout. */
export const TORCH_SCRIPT: string = fileURLToPath(new URL("../../../shared/bench/torch_vit.py", import.meta.url));

/** What the peer printed. */
export interface TorchResult {
  images_per_second: number;
  ms_per_step: number;
  [key: string]: unknown;
}

/**
 * Runs the PyTorch peer at its best: with one thread and with every core, keeping the faster
 * (with OpenBLAS behind torch, two torch threads over OpenBLAS's own threads oversubscribe two
 * cores and run slower than one). Debian's python3-torch installs into /usr/bin/python3, which
 * is preferred over whatever python3 comes first on PATH.
 * @param config model shape and batch size
 * @param o steps, warm-up, script path; `threads` pins one thread count instead
 * @returns its JSON line
 * @throws {UsageError} when python3, torch or the script is missing
 */
export async function benchPytorch(
  config: Config,
  o: { steps: number; warmup: number; script?: string; threads?: number },
): Promise<TorchResult> {
  const counts = o.threads !== undefined ? [o.threads] : [...new Set([1, cpus().length])];
  let best: TorchResult | null = null;
  for (const threads of counts) {
    const r = await _runPytorch(config, { ...o, threads });
    if (!best || r.images_per_second > best.images_per_second) best = r;
  }
  return best!;
}

async function _runPytorch(
  config: Config,
  o: { steps: number; warmup: number; script?: string; threads: number },
): Promise<TorchResult> {
  const script = o.script ?? TORCH_SCRIPT;
  if (!existsSync(script)) throw new UsageError(`--compare-pytorch: ${script} not found`);
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const m = config.model;
  const args = [
    script,
    ...["--image", config.data.image_size, "--channels", config.data.channels, "--patch", m.patch_size],
    ...["--d-model", m.d_model, "--depth", m.depth, "--heads", m.heads, "--mlp-ratio", m.mlp_ratio],
    ...["--classes", config.data.num_classes, "--batch", config.train.batch_size],
    ...["--steps", o.steps, "--warmup", o.warmup, "--threads", o.threads],
  ].map(String);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python, { args, stdout: "piped", stderr: "piped" }).output();
  } catch {
    throw new UsageError(`--compare-pytorch: ${python} could not be started`);
  }
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new UsageError(`--compare-pytorch: ${python} ${script} failed: ${err} (apt-get install python3-torch)`);
  }
  return JSON.parse(text) as TorchResult;
}

/**
 * The machine's float32 matrix-multiply rate through numpy's BLAS (OpenBLAS on Debian), all cores.
 * @param n matrix side
 * @returns GFLOP/s, or null when python3 with numpy is missing
 */
export async function blasPeak(n = 2048): Promise<number | null> {
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const code = [
    "import numpy as np, time",
    `n=${n}; a=np.random.rand(n,n).astype(np.float32); b=np.random.rand(n,n).astype(np.float32); a@b`,
    "ts=[]",
    "for _ in range(5):",
    "  t=time.perf_counter(); a@b; ts.append(time.perf_counter()-t)",
    "print(2*n**3/sorted(ts)[2]/1e9)",
  ].join("\n");
  try {
    const out = await new Deno.Command(python, { args: ["-c", code], stdout: "piped", stderr: "null" }).output();
    return out.success ? Number(new TextDecoder().decode(out.stdout).trim()) : null;
  } catch {
    return null;
  }
}
