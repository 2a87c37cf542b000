/** `bench`: training-step throughput per backend, one JSON line each on stdout. */
import { benchTraining, matmulPeak } from "../lib/bench/bench.ts";
import { benchPytorch, blasPeak } from "../lib/bench/pytorch.ts";
import { loadConfig } from "../lib/config/load.ts";
import { type BackendName, BACKENDS } from "../lib/config/schema.ts";
import { UsageError } from "../lib/errors.ts";
import { say } from "./progress.ts";

/** Flags of `bench`. */
export interface BenchFlags {
  backend: string[];
  steps: string;
  warmup: string;
  set: string[];
  comparePytorch?: boolean;
  peak?: boolean;
}

/**
 * @param configPath the config whose model and batch size are timed
 * @param flags parsed flags
 */
export async function bench(configPath: string, flags: BenchFlags): Promise<void> {
  const steps = _int("--steps", flags.steps);
  const warmup = _int("--warmup", flags.warmup, 0);
  const backends = (flags.backend.length ? flags.backend : ["auto"]) as BackendName[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new UsageError(`--backend: unknown backend '${b}'`);
  const config = loadConfig(configPath, { overrides: flags.set });
  const torch = flags.comparePytorch ? await benchPytorch(config, { steps, warmup }) : null;
  const blas = flags.peak ? await blasPeak() : null;
  for (const backend of backends) {
    say(`timing ${backend}: ${warmup} warm-up + ${steps} steps at batch ${config.train.batch_size}\n`);
    const r = await benchTraining(config, { backend, steps, warmup });
    const line: Record<string, unknown> = { config: configPath, ...r };
    if (torch) line.pytorch_images_per_second = torch.images_per_second;
    if (torch) line.vs_pytorch = Math.round((r.images_per_second / torch.images_per_second) * 100) / 100;
    if (flags.peak) {
      const own = await matmulPeak(r.backend);
      line.backend_matmul_gflops = own.gflops;
      if (blas !== null) {
        line.machine_matmul_gflops = Math.round(blas * 10) / 10;
        line.of_machine_peak = Math.round((r.achieved_gflops / blas) * 1000) / 1000;
        if (r.products_gflops !== undefined) {
          line.products_of_machine_peak = Math.round((r.products_gflops / blas) * 1000) / 1000;
        }
      }
    }
    console.log(JSON.stringify(line));
  }
  if (torch) console.log(JSON.stringify({ config: configPath, backend: "pytorch", ...torch }));
}

function _int(flag: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer ≥ ${min}, got '${value}'`);
  return n;
}
