/**
 * The TensorFlow C library backends: `tensorflow` (@tensorflow/tfjs-node) and `tensorflow-gpu`
 * (@tensorflow/tfjs-node-gpu). Their npm install scripts download libtensorflow 2.9.1 from
 * Google's storage, which answers 403 since 2026-08 (tfjs issue 8742), so vitlab never runs
 * them: `deno task setup-gpu --libtensorflow <tarball>` builds the binding from a
 * libtensorflow the user supplies (see node_setup.ts), and this module loads it.
 */
import * as tf from "@tensorflow/tfjs-core";
import { existsSync, realpathSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BackendError, firstLine } from "../errors.ts";

/** The two node backends. */
export type NodeBackend = "tensorflow" | "tensorflow-gpu";

/** npm package of each node backend. */
export const NODE_PACKAGES: Record<NodeBackend, string> = {
  tensorflow: "@tensorflow/tfjs-node",
  "tensorflow-gpu": "@tensorflow/tfjs-node-gpu",
};

/**
 * @param name a node backend
 * @param root the project's folder (holding node_modules)
 * @returns the package's real folder, or null when it is not installed
 */
export function nodePackageDir(name: NodeBackend, root: string = _projectRoot()): string | null {
  const link = `${root}/node_modules/${NODE_PACKAGES[name]}`;
  return existsSync(`${link}/package.json`) ? realpathSync(link) : null;
}

/**
 * Where the package's loader looks for its native binding under this runtime. node-pre-gyp
 * names the folder after N-API's version, and Deno reports a newer one than the Node.js that
 * builds it (tfjs issues 8579, 8581), so setup copies the binding here.
 * @param packageDir the package's folder
 * @returns the binding's expected path
 */
export function bindingPath(packageDir: string): string {
  return `${packageDir}/lib/napi-v${process.versions.napi}/tfjs_binding.node`;
}

/**
 * Loads a node backend and makes it tfjs's active one.
 * @param name which one
 * @param requireGpu fail unless TensorFlow placed ops on a GPU (for `auto`)
 * @returns the device, in words
 * @throws {BackendError} naming what is missing and the command that fixes it
 */
export async function initNodeBackend(name: NodeBackend, requireGpu: boolean): Promise<string> {
  const pkg = NODE_PACKAGES[name];
  const dir = nodePackageDir(name);
  const setup = name === "tensorflow-gpu" ? "deno task setup-gpu" : "deno task setup-cpu";
  if (!dir) {
    throw new BackendError(`backend '${name}' needs the npm package ${pkg}, which is not installed (run deno install)`);
  }
  if (!existsSync(bindingPath(dir))) {
    throw new BackendError(
      `backend '${name}': ${pkg} has no native binding with libtensorflow yet; run ${setup} --libtensorflow <libtensorflow${
        name === "tensorflow-gpu" ? "-gpu" : ""
      }-linux-x86_64-2.9.1.tar.gz> (README: GPU)`,
    );
  }
  try {
    if (name === "tensorflow-gpu") await import("@tensorflow/tfjs-node-gpu");
    else await import("@tensorflow/tfjs-node");
    tf.enableProdMode();
    if (!(await tf.setBackend("tensorflow")) || tf.getBackend() !== "tensorflow") throw new Error("setBackend failed");
    await tf.ready();
  } catch (err) {
    throw new BackendError(`backend '${name}' failed to load ${pkg}: ${firstLine(err)}`);
  }
  const backend = tf.backend() as { isUsingGpuDevice?: boolean; binding?: { TF_Version?: string } };
  const version = backend.binding?.TF_Version ?? "?";
  if (requireGpu && !backend.isUsingGpuDevice) {
    throw new BackendError(
      `backend '${name}' loaded TensorFlow ${version} but it sees no GPU (CUDA 11.2 / cuDNN 8.1 missing?)`,
    );
  }
  return `TensorFlow ${version} (${backend.isUsingGpuDevice ? "GPU" : "CPU"})`;
}

function _projectRoot(): string {
  return fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
}
