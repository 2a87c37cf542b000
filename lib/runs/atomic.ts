/** Writing files so that a crash at any instant leaves either the old or the new file. */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { fileErrorReason, RunError } from "../errors.ts";

/**
 * Writes to a temporary name in the same folder, syncs, renames into place, syncs the folder.
 * @param path destination
 * @param data contents
 * @throws {RunError} naming the file and the reason (a full disk, no permission), the old file
 *   left as it was and no temporary file behind
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let fd: number;
  try {
    fd = openSync(tmp, "w");
  } catch (err) {
    throw new RunError(`cannot write ${path}: ${fileErrorReason(err)}`, { cause: err });
  }
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    throw discardTemp(tmp, path, err);
  }
  closeSync(fd);
  _killHook();
  try {
    renameSync(tmp, path);
  } catch (err) {
    // A folder in the file's place, say: the old path stays as it was, without a stray temp file.
    throw discardTemp(tmp, path, err);
  }
  _syncDir(dirname(path));
}

/** Removes a failed write's temporary file and gives the error to throw for `path`. */
function discardTemp(tmp: string, path: string, err: unknown): RunError {
  try {
    unlinkSync(tmp);
  } catch { /* it may not exist */ }
  return new RunError(`cannot write ${path}: ${fileErrorReason(err)}`, { cause: err });
}

let _writes = 0;
let _killAt: number | null | undefined;

/**
 * The crash-consistency tests' hook: with `VITLAB_TEST_KILL_AT_WRITE=N` the process kills itself
 * (SIGKILL, as `kill -9`) just before the Nth rename, leaving the temporary file behind, as a
 * crash at the worst moment of a write would. Unset, it costs one counter increment.
 */
function _killHook(): void {
  if (_killAt === undefined) {
    try {
      const n = Number(Deno.env.get("VITLAB_TEST_KILL_AT_WRITE") ?? "");
      _killAt = Number.isInteger(n) && n > 0 ? n : null;
    } catch {
      _killAt = null;
    }
  }
  if (_killAt !== null && ++_writes === _killAt) Deno.kill(Deno.pid, "SIGKILL");
}

function _syncDir(dir: string): void {
  // The rename is durable only once the folder's entry is on disk; some filesystems refuse.
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch { /* best effort */ }
}
