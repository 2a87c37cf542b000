/**
 * WebGPU under Deno: one adapter, asked for once, handed to tfjs's WebGPUBackend.
 *
 * Why not tfjs's own registration: it asks navigator.gpu for a second adapter after ours and
 * requests the feature list with a nested array (`[['bgra8unorm-storage']]`); under Deno that
 * path fails with "adapter cannot be reused"-style errors (tfjs issue 8518, deno issue 28135).
 * Registering our own factory with the adapter we already inspected avoids both.
 *
 * Why submit after every op (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE = 1): with tfjs's default
 * batching of 15 ops per submit, read-backs under Deno (measured on lavapipe) returned stale
 * values — the same loss step after step, or zeros — while the weights were right.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendError } from "../errors.ts";

/** What {@linkcode registerWebgpu} found. */
export interface WebgpuAdapter {
  adapterDescription: string;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader) rather than a GPU. */
  software: boolean;
}

let _registered: Promise<WebgpuAdapter> | null = null;

/**
 * Finds a WebGPU adapter and registers tfjs's `webgpu` backend on it (once per process).
 * @returns the adapter's description and whether it is a software fallback
 * @throws {BackendError} when navigator.gpu or an adapter is missing
 */
export function registerWebgpu(): Promise<WebgpuAdapter> {
  _registered ??= _register().catch((err) => {
    _registered = null;
    throw err;
  });
  return _registered;
}

async function _register(): Promise<WebgpuAdapter> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) throw new BackendError("backend 'webgpu' needs navigator.gpu (run Deno with --unstable-webgpu)");
  _ensureRuntimeDir();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new BackendError("backend 'webgpu': no WebGPU adapter was found (no GPU driver or Vulkan loader?)");
  }
  const info = adapter.info;
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ").trim() ||
    "unnamed adapter";
  const software = (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(text);
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 1);
  tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", async () => {
    const limits = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      },
    });
    return new WebGPUBackend(device, info);
  }, 3);
  return { adapterDescription: text, software };
}

/** Mesa's Vulkan drivers print an error on every start unless XDG_RUNTIME_DIR names a 0700 folder. */
function _ensureRuntimeDir(): void {
  try {
    const dir = Deno.env.get("XDG_RUNTIME_DIR");
    if (dir && (Deno.statSync(dir).mode ?? 0o700) % 0o1000 === 0o700) return;
    const tmp = Deno.makeTempDirSync({ prefix: "vitlab-xdg-" });
    Deno.chmodSync(tmp, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", tmp);
  } catch { /* without env or write permission the driver only prints its warning */ }
}
