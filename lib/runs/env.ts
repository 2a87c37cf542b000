/** What env.json records: enough to know what produced a run and to reproduce it. */
import * as tf from "@tensorflow/tfjs-core";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import type { BackendInfo } from "../backend/backend.ts";

/** The contents of env.json. */
export interface RunEnv {
  vitlab_version: string;
  deno: string;
  v8: string;
  typescript: string;
  tfjs: string;
  backend: string;
  device: string;
  os: string;
  cpu: string;
  cpu_count: number;
  memory_gb: number;
  git_commit: string | null;
  git_dirty: boolean | null;
  command: string[];
  cwd: string;
  seed: number;
  config_hash: string;
  dataset_files: Record<string, string>;
  /** Where model.init_from took the weights from; absent for a run that started from its seed. */
  init_from?: { source: string; file: string; sha256: string };
}

/** vitlab's version, written into every run. */
export const VITLAB_VERSION = "0.1.0";

/**
 * @param o backend, command line, seed, config hash, dataset files to hash, and the source of
 *   model.init_from (with its hash) if the weights came from one
 * @returns the environment record
 */
export function collectEnv(o: {
  backend: BackendInfo;
  command: string[];
  seed: number;
  configHash: string;
  datasetFiles: string[];
  initFrom?: { source: string; file: string; sha256: string } | null;
}): RunEnv {
  const git = _git();
  const files: Record<string, string> = {};
  for (const f of o.datasetFiles) {
    try {
      files[f] = `sha256:${createHash("sha256").update(readFileSync(f)).digest("hex")}`;
    } catch {
      files[f] = "unreadable";
    }
  }
  return {
    vitlab_version: VITLAB_VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    tfjs: tf.version_core,
    backend: o.backend.name,
    device: o.backend.device,
    os: `${platform()} ${release()} ${arch()}`,
    cpu: cpus()[0]?.model?.trim() ?? "unknown",
    cpu_count: cpus().length,
    memory_gb: Math.round(totalmem() / 2 ** 30),
    git_commit: git.commit,
    git_dirty: git.dirty,
    command: o.command,
    cwd: Deno.cwd(),
    seed: o.seed,
    config_hash: o.configHash,
    dataset_files: files,
    ...(o.initFrom
      ? { init_from: { source: o.initFrom.source, file: o.initFrom.file, sha256: o.initFrom.sha256 } }
      : {}),
  };
}

function _git(): { commit: string | null; dirty: boolean | null } {
  // The project's own commit: the folder this module lives in, not the user's cwd.
  const cwd = new URL("../..", import.meta.url).pathname;
  const run = (args: string[]): string | null => {
    try {
      const out = new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" }).outputSync();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null;
    }
  };
  const commit = run(["rev-parse", "HEAD"]);
  if (commit === null) return { commit: null, dirty: null };
  const status = run(["status", "--porcelain", "--untracked-files=no"]);
  return { commit, dirty: status === null ? null : status.length > 0 };
}
