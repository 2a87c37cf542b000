/** Writing files so that a crash at any instant leaves either the old or the new file. */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Writes to a temporary name in the same folder, syncs, renames into place, syncs the folder.
 * @param path destination
 * @param data contents
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${Deno.pid}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const fd = openSync(tmp, "w");
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch { /* the temporary file may not exist */ }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  _syncDir(dirname(path));
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
