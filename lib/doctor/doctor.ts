/**
 * `doctor`: what this machine can train on, found by trying it — the runtime, each backend
 * (with the one-line reason and the fixing command for those that do not load), each WebGPU
 * adapter, the TensorFlow bindings, OpenBLAS, and a short vit-small bench per usable backend.
 * Nothing here prints; {@linkcode ./format.ts} writes the report.
 */
import * as tf from "@tensorflow/tfjs-core";
import { cpus, totalmem } from "node:os";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { initBackend } from "../backend/backend.ts";
import { blasKernelHint, openBlas, OPENBLAS_INSTALL } from "../backend/blas.ts";
import { bindingPath, NODE_PACKAGES, type NodeBackend, nodePackageDir } from "../backend/node_backend.ts";
import { benchTraining } from "../bench/bench.ts";
import { type OpChainCost, opChainCost } from "../bench/op_chain.ts";
import { type BackendName, BACKENDS, type Config } from "../config/schema.ts";
import { firstLine } from "../errors.ts";
import { type AdapterReport, webgpuAdapters } from "./adapters.ts";

export type { AdapterReport } from "./adapters.ts";

/** One backend: loads (with its device) or not (with why and what fixes it). */
export interface BackendCheck {
  backend: Exclude<BackendName, "auto">;
  loads: boolean;
  /** The device it runs on, when it loads. */
  device?: string;
  /** Why it does not load, in one line. */
  reason?: string;
  /** The command that would make it load. */
  fix?: string;
}

/** One backend's short bench. */
export interface DoctorBench {
  backend: Exclude<BackendName, "auto">;
  /** The bench failed on a backend that loads: a bug to report. */
  error?: string;
  images_per_second?: number;
  ms_per_step?: number;
  kernels_per_step?: number;
  us_per_kernel?: number;
  dispatches_per_step?: number;
}

/** Everything `doctor` found. */
export interface DoctorReport {
  runtime: Record<string, string | number>;
  backends: BackendCheck[];
  webgpu: { adapters: AdapterReport[]; vulkanDrivers: string[]; reason?: string; fix?: string };
  tensorflow: { backend: NodeBackend; package: string; installed: boolean; binding: string | null }[];
  openblas: {
    present: boolean;
    config?: string;
    /** The kernels in use, and OPENBLAS_CORETYPE when the environment chose them. */
    core?: string;
    forced?: string | null;
    /** Advice when the environment holds OpenBLAS to other kernels than it would choose itself. */
    hint?: string | null;
    threads?: number;
    reason?: string;
    fix?: string;
  };
  /** The config timed, its batch size and the steps per bench. */
  benchSetup: { config: string; batch: number; steps: number; warmup: number } | null;
  bench: DoctorBench[];
  /** webgpu only: µs per op of a 2,000-add chain, as vitlab batches submits and with a submit per op. */
  opChain: OpChainCost[];
}

/** Options of {@linkcode runDoctor}. */
export interface DoctorOptions {
  /** The config to bench (vit-small by default) and its path, for the report. */
  config: Config;
  configPath: string;
  /** Timed steps per backend; 0 skips the benches. */
  steps: number;
  warmup: number;
  /** Called before each slow part, with what it is. */
  onProgress?: (what: string) => void;
}

/** The command that makes each backend load, when it does not. */
const _FIXES: Record<Exclude<BackendName, "auto">, string> = {
  cpu: "deno install",
  wasm: "deno install",
  blas: OPENBLAS_INSTALL,
  webgpu: "sudo apt-get install mesa-vulkan-drivers (software), or your GPU's Vulkan driver",
  tensorflow: "deno task setup-cpu --libtensorflow libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz",
  "tensorflow-gpu": "deno task setup-gpu --libtensorflow libtensorflow-gpu-linux-x86_64-2.9.1.tar.gz",
};

/**
 * Checks the machine.
 * @param o the config to bench and how long
 * @returns the report
 */
export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  // Adapters first: tfjs's webgpu backend then takes the one it registers on.
  const webgpu = await webgpuAdapters();
  const backends: BackendCheck[] = [];
  for (const backend of BACKENDS.filter((b) => b !== "auto") as Exclude<BackendName, "auto">[]) {
    o.onProgress?.(`loading ${backend}`);
    backends.push(await _check(backend));
  }
  const usable = backends.filter((b) => b.loads).map((b) => b.backend);
  const bench: DoctorBench[] = [];
  if (o.steps > 0) {
    for (const backend of usable) {
      o.onProgress?.(`timing ${o.configPath} on ${backend}: ${o.warmup} warm-up + ${o.steps} steps`);
      bench.push(await _bench(o, backend));
    }
  }
  let opChain: OpChainCost[] = [];
  if (usable.includes("webgpu")) {
    o.onProgress?.("timing a 2,000-add chain on webgpu");
    await initBackend("webgpu");
    opChain = await opChainCost({
      batches: [tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE"), 1],
      ops: 2000,
      warmup: 500,
      repeats: 3,
    });
  }
  return {
    runtime: _runtime(),
    backends,
    webgpu,
    tensorflow: (["tensorflow", "tensorflow-gpu"] as const).map(_binding),
    openblas: await _openblas(),
    benchSetup: o.steps > 0
      ? { config: o.configPath, batch: o.config.train.batch_size, steps: o.steps, warmup: o.warmup }
      : null,
    bench,
    opChain,
  };
}

async function _check(backend: Exclude<BackendName, "auto">): Promise<BackendCheck> {
  try {
    const info = await initBackend(backend);
    return { backend, loads: true, device: info.device };
  } catch (err) {
    // The reason only: the fix has a column of its own.
    const reason = firstLine(err).replace(/^backend '[^']+':? /, "").split(/; run |; install|: install/)[0]!;
    return { backend, loads: false, reason, fix: _FIXES[backend] };
  }
}

async function _bench(o: DoctorOptions, backend: Exclude<BackendName, "auto">): Promise<DoctorBench> {
  try {
    // Micro-batches are how a CPU spreads a step over its cores; a GPU takes the batch whole, as
    // a GPU user would set it (train.micro_batch=0), so its figure is the GPU's own.
    const gpu = backend === "webgpu" || backend === "tensorflow-gpu";
    const config = gpu ? { ...o.config, train: { ...o.config.train, micro_batch: 0 } } : o.config;
    const r = await benchTraining(config, { backend, steps: o.steps, warmup: o.warmup });
    return {
      backend,
      images_per_second: r.images_per_second,
      ms_per_step: r.ms_per_step,
      kernels_per_step: r.kernels_per_step,
      us_per_kernel: r.us_per_kernel,
      ...(r.dispatches_per_step !== undefined ? { dispatches_per_step: r.dispatches_per_step } : {}),
    };
  } catch (err) {
    return { backend, error: firstLine(err) };
  }
}

function _runtime(): Record<string, string | number> {
  const cpu = cpus();
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpu: cpu[0]?.model?.trim() ?? "unknown",
    cores: cpu.length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    tfjs: tf.version_core,
  };
}

function _binding(backend: NodeBackend): DoctorReport["tensorflow"][number] {
  const dir = nodePackageDir(backend);
  const binding = dir && existsSync(bindingPath(dir)) ? bindingPath(dir) : null;
  return { backend, package: NODE_PACKAGES[backend], installed: dir !== null, binding };
}

async function _openblas(): Promise<DoctorReport["openblas"]> {
  try {
    const { config, core, forced, threads } = openBlas();
    const hint = forced ? blasKernelHint({ core, forced }, await blasCoreWith(null)) : null;
    return { present: true, config, core, forced, hint, threads };
  } catch (err) {
    const reason = firstLine(err).replace(/^backend '[^']+':? /, "").split(/; install|: install/)[0]!;
    return { present: false, reason, fix: OPENBLAS_INSTALL };
  }
}

/**
 * The kernels OpenBLAS chooses in a child process whose OPENBLAS_CORETYPE is the one given, or
 * unset: OpenBLAS reads the variable once, when it loads, so this process cannot be asked.
 * @param coretype the value to run it with; null to leave the variable out
 * @returns OpenBLAS's core name there, or null when it cannot be found out
 */
export async function blasCoreWith(coretype: string | null): Promise<string | null> {
  try {
    const env = Deno.env.toObject();
    delete env.OPENBLAS_CORETYPE;
    if (coretype) env.OPENBLAS_CORETYPE = coretype;
    const probe = fileURLToPath(new URL("./blas_core_probe.ts", import.meta.url));
    const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "--allow-ffi", "--allow-env", "--allow-read", `--config=${config}`, probe],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? JSON.parse(new TextDecoder().decode(out.stdout)) as string : null;
  } catch {
    return null; // no --allow-run, or no Deno to run: no advice
  }
}
