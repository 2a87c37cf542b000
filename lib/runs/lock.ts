/**
 * One process owns a run directory while it trains. The owner holds an exclusive lock on
 * `run.lock` (flock, which the system releases when the process dies, however it dies, and which
 * NFS v4 extends across nodes) and writes its pid, host and start time into it; a normal end
 * empties the file. A second process is refused in one line naming the owner. A lock whose
 * holder died (`kill -9`, a crashed node) is free again, and its leftover owner record is how
 * the next process can say that it took over.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";

/** The lock file's name inside a run directory. It stays there, empty while no one trains. */
export const LOCK_FILE = "run.lock";

/** What `run.lock` holds while a process owns the run. */
export interface LockOwner {
  /** The owning process. */
  pid: number;
  /** The machine it runs on. */
  host: string;
  /** When it took the lock (ISO 8601). */
  since: string;
}

/** A held lock; release it when the run ends, however it ends. */
export interface RunLock {
  /** Empties the owner record and releases the lock. */
  release(): void;
}

/**
 * Takes the run directory's lock.
 * @param runDir the run directory
 * @param onTakeOver told, in one line, when the previous owner died holding the run
 * @returns the held lock
 * @throws {UsageError} when another process holds it
 * @example
 * ```ts
 * import { lockRunDir } from "./lock.ts";
 * const dir = Deno.makeTempDirSync();
 * const lock = lockRunDir(dir);
 * lock.release();
 * lockRunDir(dir).release(); // free again once released
 * ```
 */
export function lockRunDir(runDir: string, onTakeOver?: (message: string) => void): RunLock {
  const path = join(runDir, LOCK_FILE);
  const file = Deno.openSync(path, { read: true, write: true, create: true });
  let held = false;
  try {
    held = file.tryLockSync(true);
  } catch {
    /* no locking on this filesystem: a second owner cannot be told apart */
    held = true;
  }
  if (!held) {
    file.close();
    const owner = readLockOwner(path);
    const who = owner ? `process ${owner.pid} on ${owner.host} since ${owner.since}` : "another process";
    throw new UsageError(`${runDir} is in use by ${who}; wait for it to end`);
  }
  const previous = readLockOwner(path);
  if (previous !== null) {
    onTakeOver?.(
      `took over ${path} from process ${previous.pid} on ${previous.host}, which ended without releasing it`,
    );
  }
  const me: LockOwner = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
  _record(file, JSON.stringify(me) + "\n");
  return {
    release() {
      try {
        _record(file, "");
        file.unlockSync();
      } catch { /* the process is ending anyway; the system drops the lock with it */ }
      file.close();
    },
  };
}

/**
 * @param path a `run.lock`
 * @returns its recorded owner, or null when it is empty, missing or unreadable
 */
export function readLockOwner(path: string): LockOwner | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    if (typeof v?.pid === "number" && typeof v?.host === "string" && typeof v?.since === "string") return v;
    return null;
  } catch {
    return null;
  }
}

function _record(file: Deno.FsFile, text: string): void {
  file.truncateSync(0);
  file.seekSync(0, Deno.SeekMode.Start);
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}
