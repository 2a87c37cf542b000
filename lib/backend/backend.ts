/**
 * The only place that chooses and initialises a tfjs backend.
 *
 * Backend packages are imported lazily, so a run on `cpu` never loads wasm or webgpu code,
 * and a missing optional package becomes a clear error rather than a failed import.
 */
import * as tf from "@tensorflow/tfjs-core";
import { cpus } from "node:os";
import { BackendError } from "../errors.ts";
import type { BackendName } from "../config/schema.ts";
// Every backend trains: the gradient functions are registered with the backends, not with
// whichever model module happens to be imported first.
import "./gradients.ts";
import { BlasMissingError, capBlasThreads, openBlas, OPENBLAS_INSTALL, useBlasMatMul } from "./blas.ts";
import { initNodeBackend } from "./node_backend.ts";
import { registerWasmKernels } from "./wasm_kernels.ts";
import { DEFAULT_TRAITS, setActiveTraits } from "./traits.ts";
import { registerWebgpu } from "./webgpu.ts";

/** What {@linkcode initBackend} settled on. */
export interface BackendInfo {
  /** The tfjs backend now active. */
  name: Exclude<BackendName, "auto">;
  /** The device it runs on, in words. */
  device: string;
  /** For `auto`: the backends tried before this one and why each was passed over. */
  skipped: string[];
  /** For `auto`: what would make training faster on this machine, with the command that does it. */
  hints: string[];
}

/**
 * How much faster blas trains than wasm: vit-small's images/s on the 2-core development machine,
 * the median of the ratios of 6 runs of `deno task bench configs/vit-small.yaml --backend blas
 * --backend wasm` with the config's two micro-batches on two replicas, the fused SIMD kernels and
 * blas's fused block (2,659 against 1,097 images/s, medians; docs/backends.md).
 */
export const BLAS_SPEEDUP_OVER_WASM = 2.3;

/**
 * Initialises a backend and makes it tfjs's active one.
 * @param name a backend, or `auto` for the fastest that initialises: a hardware GPU through
 *   tensorflow-gpu or webgpu, else blas (wasm + OpenBLAS), else wasm, else cpu
 * @returns the backend chosen and its device
 * @throws {BackendError} when the named backend cannot be used; the message says why
 * @example
 * ```ts
 * import { initBackend } from "./backend.ts";
 * const backend = await initBackend("cpu");
 * if (backend.name !== "cpu") throw new Error("wrong");
 * ```
 */
export async function initBackend(name: BackendName): Promise<BackendInfo> {
  if (name !== "auto") {
    const device = await _init(name);
    _setTraits(name);
    return { name, device, skipped: [], hints: [] };
  }
  const skipped: string[] = [];
  const hints: string[] = [];
  for (const candidate of ["tensorflow-gpu", "webgpu", "blas", "wasm", "cpu"] as const) {
    try {
      const device = await _init(candidate, true);
      _setTraits(candidate);
      return { name: candidate, device, skipped, hints };
    } catch (err) {
      if (err instanceof BlasMissingError) {
        hints.push(
          `blas would train about ${BLAS_SPEEDUP_OVER_WASM}× faster than wasm (vit-small, 2 cores); install OpenBLAS: ${OPENBLAS_INSTALL}`,
        );
      }
      // The first clause is the reason; the rest (how to fix it) is for an explicit --backend.
      const why =
        (err instanceof Error ? err.message : String(err)).replace(/^backend '[^']+':? /, "").split(/; |: install/)[0];
      skipped.push(`${candidate}: ${why}`);
    }
  }
  throw new BackendError(`no backend could be initialised (${skipped.join("; ")})`);
}

/** Every backend sets all its traits, so none survives a switch to another (bench times several in turn). */
function _setTraits(name: Exclude<BackendName, "auto">): void {
  setActiveTraits(tf.getBackend(), { ...DEFAULT_TRAITS, transposeFlagsFree: name === "blas" });
}

async function _init(name: Exclude<BackendName, "auto">, auto = false): Promise<string> {
  const cpu = cpus()[0]?.model?.trim() ?? "unknown CPU";
  switch (name) {
    case "cpu":
      await import("@tensorflow/tfjs-backend-cpu");
      await _activate("cpu");
      return `${cpu} (pure JS)`;
    case "wasm": {
      await import("@tensorflow/tfjs-backend-wasm");
      await _activate("wasm");
      registerWasmKernels();
      useBlasMatMul(false);
      return `${cpu} (wasm SIMD, 1 thread)`;
    }
    case "blas": {
      const blas = openBlas();
      await import("@tensorflow/tfjs-backend-wasm");
      await _activate("wasm");
      registerWasmKernels();
      useBlasMatMul(true);
      // Every products' thread count from the start: a micro-batched run capped it for itself.
      capBlasThreads(Infinity);
      const version = blas.config.match(/^OpenBLAS [\d.]+/)?.[0] ?? "OpenBLAS";
      // The kernels change speed and bytes: name them (env.json, bench and doctor show this).
      return `${cpu} (wasm SIMD + ${version} ${blas.core} kernels, products on ${
        blas.threads > 1 ? `1–${blas.threads} threads` : "1 thread"
      })`;
    }
    case "webgpu":
      return await _initWebgpu(auto);
    case "tensorflow":
    case "tensorflow-gpu":
      return await initNodeBackend(name, auto && name === "tensorflow-gpu");
  }
}

async function _initWebgpu(auto: boolean): Promise<string> {
  const { adapterDescription, software } = await registerWebgpu();
  // A software rasteriser is slower than wasm: auto must never take it for a GPU.
  if (auto && software) throw new BackendError(`webgpu adapter is a software fallback (${adapterDescription})`);
  await _activate("webgpu");
  return `${adapterDescription}${software ? " (software)" : ""}`;
}

async function _activate(name: string): Promise<void> {
  // Production mode: no debug checks, and no console output from tfjs (the library never
  // prints; the cpu backend would otherwise advertise tfjs-node on stderr).
  tf.enableProdMode();
  let ok = false;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (err) {
    throw new BackendError(`backend '${name}' failed to initialise: ${err instanceof Error ? err.message : err}`);
  }
  // tfjs falls back to another backend silently when one fails: check what it really chose.
  if (!ok || tf.getBackend() !== name) {
    throw new BackendError(`backend '${name}' failed to initialise (tfjs is on '${tf.getBackend()}')`);
  }
}
