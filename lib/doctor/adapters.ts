/**
 * The WebGPU adapters Deno offers, asked for with each power preference and as a fallback, with
 * what tells a GPU from a software rasteriser and the limits tfjs's kernels run into.
 */
import { existsSync, readdirSync } from "node:fs";
import { adapterText, isSoftwareAdapter, webgpuApi } from "../backend/webgpu.ts";
import { firstLine } from "../errors.ts";

/** One adapter as `doctor` reports it. */
export interface AdapterReport {
  /** vendor, architecture, device and description in one line. */
  name: string;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** What the adapter says of itself (`isFallbackAdapter`); null when it does not say. */
  isFallbackAdapter: boolean | null;
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader): `auto` never trains on it. */
  software: boolean;
  /** The requests that returned it: high-performance, low-power, fallback. */
  via: string[];
  /** The limits that bound tfjs's kernels. */
  limits: Record<string, number>;
  features: string[];
}

/** Limits worth knowing when a kernel fails or is slow. */
const _KEY_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
] as const;

/**
 * @returns every distinct adapter, the Vulkan drivers installed, and why none was found (with
 *   the fixing command) when none was
 */
export async function webgpuAdapters(): Promise<
  { adapters: AdapterReport[]; vulkanDrivers: string[]; reason?: string; fix?: string }
> {
  const vulkanDrivers = _vulkanDrivers();
  let gpu: GPU;
  try {
    gpu = webgpuApi();
  } catch (err) {
    return {
      adapters: [],
      vulkanDrivers,
      reason: firstLine(err),
      fix: "deno run --unstable-webgpu (deno task doctor does)",
    };
  }
  const requests: [string, GPURequestAdapterOptions][] = [
    ["high-performance", { powerPreference: "high-performance" }],
    ["low-power", { powerPreference: "low-power" }],
    ["fallback", { forceFallbackAdapter: true }],
  ];
  const found = new Map<string, AdapterReport>();
  for (const [via, options] of requests) {
    const adapter = await gpu.requestAdapter(options).catch(() => null);
    if (!adapter) continue;
    const report = _describe(adapter);
    const key = `${report.name}|${report.isFallbackAdapter}`;
    const seen = found.get(key);
    if (seen) seen.via.push(via);
    else found.set(key, { ...report, via: [via] });
  }
  const adapters = [...found.values()];
  if (adapters.length > 0) return { adapters, vulkanDrivers };
  return {
    adapters,
    vulkanDrivers,
    reason: vulkanDrivers.length
      ? "no adapter, though Vulkan drivers are installed"
      : "no adapter and no Vulkan driver",
    fix: "sudo apt-get install mesa-vulkan-drivers (software), or your GPU's Vulkan driver",
  };
}

function _describe(adapter: GPUAdapter): Omit<AdapterReport, "via"> {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const k of _KEY_LIMITS) limits[k] = adapter.limits[k];
  const flag = (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    name: adapterText(adapter),
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: flag ?? null,
    software: isSoftwareAdapter(adapter),
    limits,
    features: [...adapter.features].sort(),
  };
}

/** @returns the Vulkan drivers (ICD manifests) installed, by file name */
function _vulkanDrivers(): string[] {
  const dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"];
  return dirs.flatMap((d) => {
    try {
      return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".json")) : [];
    } catch {
      return [];
    }
  }).sort();
}
