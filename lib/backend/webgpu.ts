/**
 * WebGPU under Deno: one adapter, asked for once, handed to tfjs's WebGPUBackend.
 *
 * Why not tfjs's own registration: it asks navigator.gpu for a second adapter after ours and
 * requests the feature list with a nested array (`[['bgra8unorm-storage']]`); under Deno that
 * path fails with "adapter cannot be reused"-style errors (tfjs issue 8518, deno issue 28135).
 * Registering our own factory with the adapter we already inspected avoids both.
 *
 * What the stale read-backs were (vitlab once submitted after every op to hide them): the device
 * was created with WebGPU's default limits, 8 storage buffers per shader, and tfjs-webgpu's
 * `AddN` binds all its inputs in one shader. The device rejected that shader without a word
 * (an uncaptured validation error), and a rejected shader invalidates the whole command buffer
 * it was submitted in: with tfjs's batching of 15 kernels per submit, the 14 kernels around it
 * never ran, and reads returned zeros or whatever a reused buffer held before — the same loss
 * step after step. Submitting every kernel alone confined the damage to `AddN` itself (it
 * "returned 0"). `tests/webgpu_readback_test.ts` replays it. The fix is at the cause: the device
 * gets the adapter's own limits, `AddN` sums in groups a shader can bind
 * ({@linkcode ./webgpu_kernels.ts}), and any error the device reports fails the next read-back
 * with its message instead of passing on wrong numbers. Submits are batched again.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { BackendError } from "../errors.ts";
import { webgpuDispatchCounter } from "./webgpu_dispatch.ts";
import { registerWebgpuKernels } from "./webgpu_kernels.ts";

/**
 * Kernels recorded per queue submit: tfjs's default. On lavapipe a 2,000-add chain cost less per
 * op at 15 than with a submit per op, and 30 or 60 were not reliably cheaper (docs/backends.md);
 * a hardware driver's submit may cost more, which `deno task doctor` measures.
 */
export const WEBGPU_SUBMIT_BATCH = 15;

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

/**
 * @param adapter a WebGPU adapter
 * @returns its vendor, architecture, device and description in one line
 */
export function adapterText(adapter: GPUAdapter): string {
  const info = adapter.info;
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ").trim() ||
    "unnamed adapter";
}

/**
 * @param adapter a WebGPU adapter
 * @returns whether it is a CPU rasteriser rather than a GPU (Deno reports it in `info`)
 */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const flag = (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return flag === true || /llvmpipe|lavapipe|swiftshader|software/i.test(adapterText(adapter));
}

/** @returns navigator.gpu, after pointing Mesa at a valid runtime folder */
export function webgpuApi(): GPU {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) throw new BackendError("backend 'webgpu' needs navigator.gpu (run Deno with --unstable-webgpu)");
  _ensureRuntimeDir();
  return gpu;
}

async function _register(): Promise<WebgpuAdapter> {
  const adapter = await webgpuApi().requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new BackendError("backend 'webgpu': no WebGPU adapter was found (no GPU driver or Vulkan loader?)");
  }
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", WEBGPU_SUBMIT_BATCH);
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
        // The default (8) is less than tfjs-webgpu's kernels bind: see the header.
        maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      },
    });
    return checkedBackend(WebGPUBackend, device, adapter.info);
  }, 3);
  registerWebgpuKernels();
  return { adapterDescription: adapterText(adapter), software: isSoftwareAdapter(adapter) };
}

/**
 * tfjs's WebGPUBackend, made to fail loudly: an error the device reports (a rejected shader, lost
 * memory, a lost device) makes the next read-back throw it, since the values read would be wrong.
 * It also counts dispatches for `bench`.
 * @param Base tfjs-webgpu's WebGPUBackend class
 * @param device the device to run on
 * @param info its adapter's info
 * @returns the backend
 */
export function checkedBackend(Base: typeof WebGPUBackend, device: GPUDevice, info: GPUAdapterInfo): WebGPUBackend {
  let failure: string | null = null;
  device.addEventListener("uncapturederror", (e) => {
    failure ??= (e as GPUUncapturedErrorEvent).error.message.split("\n")[0]!;
  });
  device.lost.then((l) => failure ??= `the device was lost (${l.reason}: ${l.message})`);
  const check = () => {
    if (failure !== null) {
      throw new BackendError(`webgpu: the device reported an error, so results are wrong: ${failure}`);
    }
  };
  class Checked extends Base {
    override async read(dataId: object): Promise<tf.backend_util.BackendValues> {
      check();
      const values = await super.read(dataId);
      check();
      return values;
    }
    override readSync(dataId: object): tf.backend_util.BackendValues {
      check();
      return super.readSync(dataId);
    }
  }
  const backend = new Checked(device, info);
  const inner = backend as unknown as { recordAndSubmit: (...args: unknown[]) => void };
  const record = inner.recordAndSubmit;
  inner.recordAndSubmit = function (...args: unknown[]) {
    webgpuDispatchCounter.count++;
    return record.apply(this, args);
  };
  return backend;
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
