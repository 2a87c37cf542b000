/**
 * Makes the `tensorflow` / `tensorflow-gpu` backends usable from a libtensorflow the user
 * supplies: unpack it where the package's build expects it (`deps/`), build the N-API binding
 * with node-pre-gyp from source, copy it where Deno's loader looks, load it.
 *
 * libtensorflow 2.9.1 is what tfjs-node 4.22 is built against: the CPU build, or the GPU
 * build with CUDA 11.2 and cuDNN 8.1 on the library path (tfjs-node's README; tfjs issue 8362).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { BackendError, UsageError } from "../errors.ts";
import { bindingPath, initNodeBackend, NODE_PACKAGES, type NodeBackend, nodePackageDir } from "./node_backend.ts";

/** The libtensorflow files the binding links against. */
export const LIBTENSORFLOW_FILES = [
  "lib/libtensorflow.so.2.9.1",
  "lib/libtensorflow_framework.so.2.9.1",
  "include/tensorflow/c/c_api.h",
];

/** CUDA 11.2 / cuDNN 8.1 libraries libtensorflow-gpu 2.9.1 opens at start-up. */
export const CUDA_LIBRARIES = [
  "libcudart.so.11.0",
  "libcublas.so.11",
  "libcublasLt.so.11",
  "libcufft.so.10",
  "libcurand.so.10",
  "libcusolver.so.11",
  "libcusparse.so.11",
  "libcudnn.so.8",
];

/** What {@linkcode setupNodeBackend} did and found. */
export interface SetupReport {
  backend: NodeBackend;
  packageDir: string;
  binding: string;
  /** TensorFlow's version and device, as loaded. */
  device: string;
  /** CUDA/cuDNN libraries not found by the dynamic loader (GPU only). */
  missingCuda: string[];
}

/**
 * @param ldconfigOutput the text of `ldconfig -p`
 * @param libraries sonames to look for
 * @returns the ones absent
 */
export function missingLibraries(ldconfigOutput: string, libraries: string[] = CUDA_LIBRARIES): string[] {
  const present = new Set(ldconfigOutput.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter(Boolean));
  return libraries.filter((lib) => !present.has(lib));
}

/**
 * @param dir an unpacked libtensorflow
 * @returns the files of {@linkcode LIBTENSORFLOW_FILES} it lacks
 */
export function missingLibtensorflowFiles(dir: string): string[] {
  return LIBTENSORFLOW_FILES.filter((f) => !existsSync(`${dir}/${f}`));
}

/**
 * Sets a node backend up end to end.
 * @param backend `tensorflow` or `tensorflow-gpu`
 * @param o `libtensorflow`: a .tar.gz or an unpacked folder (optional when already set up);
 *   `onProgress`: called with each step's description
 * @returns where things are and what TensorFlow sees
 * @throws {UsageError} for a missing or wrong libtensorflow; {@linkcode BackendError} when the
 *   build or the load fails, with the tool's last words
 */
export async function setupNodeBackend(
  backend: NodeBackend,
  o: { libtensorflow?: string; onProgress?: (step: string) => void } = {},
): Promise<SetupReport> {
  const say = o.onProgress ?? (() => {});
  const pkg = NODE_PACKAGES[backend];
  const dir = nodePackageDir(backend);
  if (!dir) throw new BackendError(`${pkg} is not installed: run deno install first`);
  const deps = `${dir}/deps`;
  if (o.libtensorflow !== undefined) await _stageLibtensorflow(resolve(o.libtensorflow), deps, say);
  const missing = missingLibtensorflowFiles(deps);
  if (missing.length) {
    const gpu = backend === "tensorflow-gpu" ? "-gpu" : "";
    throw new UsageError(
      `no usable libtensorflow in ${deps} (missing ${
        missing.join(", ")
      }); pass --libtensorflow libtensorflow${gpu}-linux-x86_64-2.9.1.tar.gz`,
    );
  }
  let missingCuda: string[] = [];
  if (backend === "tensorflow-gpu") {
    missingCuda = missingLibraries(await _run("ldconfig", ["-p"], dir).catch(() => ""));
    if (missingCuda.length) {
      say(`CUDA/cuDNN libraries not found: ${missingCuda.join(", ")} (TensorFlow will run on the CPU)`);
    }
  }
  const binding = bindingPath(dir);
  if (!existsSync(binding)) {
    say(`building the N-API binding in ${dir} (node-pre-gyp, from source)`);
    const preGyp = (await _run("node", ["-p", "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp')"], dir)).trim();
    const nodedir = (await _run("npm", ["config", "get", "nodedir"], dir).catch(() => "")).trim();
    const args = [
      preGyp,
      "install",
      "--build-from-source",
      ...(nodedir && nodedir !== "undefined" ? [`--nodedir=${nodedir}`] : []),
    ];
    await _run("node", args, dir);
    const built = _findBuiltBinding(`${dir}/lib`);
    if (!built) throw new BackendError(`node-pre-gyp finished but no tfjs_binding.node is under ${dir}/lib`);
    mkdirSync(dirname(binding), { recursive: true });
    // Same depth as the built one, so its rpath ($ORIGIN/../../deps/lib) still finds libtensorflow.
    if (built !== binding) copyFileSync(built, binding);
  }
  say(`loading ${pkg}`);
  const device = await initNodeBackend(backend, false);
  return { backend, packageDir: dir, binding, device, missingCuda };
}

async function _stageLibtensorflow(source: string, deps: string, say: (s: string) => void): Promise<void> {
  if (!existsSync(source)) throw new UsageError(`--libtensorflow ${source}: no such file or directory`);
  if (existsSync(deps)) throw new UsageError(`${deps} already exists: remove it to install another libtensorflow`);
  if (statSync(source).isDirectory()) {
    const missing = missingLibtensorflowFiles(source);
    if (missing.length) {
      throw new UsageError(
        `--libtensorflow ${source}: not a libtensorflow 2.9.1 folder (missing ${missing.join(", ")})`,
      );
    }
    say(`linking ${deps} -> ${source}`);
    symlinkSync(source, deps);
    return;
  }
  if (!/\.(tar\.gz|tgz)$/.test(basename(source))) {
    throw new UsageError(`--libtensorflow ${source}: expected a .tar.gz archive or an unpacked folder`);
  }
  say(`unpacking ${source} into ${deps}`);
  // Unpack beside deps/ and rename only once it checks out, so a bad archive leaves nothing.
  const staging = `${deps}.unpacking-${Deno.pid}`;
  mkdirSync(staging, { recursive: true });
  try {
    await _run("tar", ["-xzf", source, "-C", staging], dirname(deps)).catch((err) => {
      throw new UsageError(`--libtensorflow ${source}: cannot unpack (${(err as Error).message})`);
    });
    const missing = missingLibtensorflowFiles(staging);
    if (missing.length) {
      throw new UsageError(
        `--libtensorflow ${source}: not a libtensorflow 2.9.1 archive (missing ${missing.join(", ")})`,
      );
    }
    renameSync(staging, deps);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function _findBuiltBinding(libDir: string): string | null {
  if (!existsSync(libDir)) return null;
  const dirs = readdirSync(libDir).filter((d) => /^napi-v\d+$/.test(d)).sort((a, b) =>
    Number(b.slice(6)) - Number(a.slice(6))
  );
  for (const d of dirs) if (existsSync(`${libDir}/${d}/tfjs_binding.node`)) return `${libDir}/${d}/tfjs_binding.node`;
  return null;
}

async function _run(cmd: string, args: string[], cwd: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch {
    throw new BackendError(`${cmd} is not installed (needed to build the binding: node, npm, python3, make, g++)`);
  }
  if (!out.success) {
    const last = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
    throw new BackendError(`${cmd} ${args.slice(0, 2).join(" ")} failed: ${last}`);
  }
  return new TextDecoder().decode(out.stdout);
}
