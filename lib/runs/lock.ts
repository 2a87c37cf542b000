/**
 * One process owns a run directory while it trains. `run.lock` names the owner (pid, host, since
 * when); it is created with an exclusive create, so of two processes starting on one run exactly
 * one gets it. A lock whose owner is gone (a `kill -9`, a crashed node) is taken over with a
 * message; a live owner's lock is a one-line refusal.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { UsageError } from "../errors.ts";

/** The lock file's name inside a run directory. */
export const LOCK_FILE = "run.lock";

/** What `run.lock` holds. */
export interface LockOwner {
  /** The owning process. */
  pid: number;
  /** The machine it runs on: a pid means nothing on another host. */
  host: string;
  /** When it took the lock (ISO 8601). */
  since: string;
}

/** A held lock; release it when the run ends, however it ends. */
export interface RunLock {
  /** Removes the lock file if it is still this process's. */
  release(): void;
}

/**
 * Takes the run directory's lock.
 * @param runDir the run directory
 * @param onTakeOver told, in one line, when a dead owner's lock is taken over
 * @returns the held lock
 * @throws {UsageError} when another live process (or one on another host) holds it
 * @example
 * ```ts
 * import { lockRunDir } from "./lock.ts";
 * const dir = Deno.makeTempDirSync();
 * const lock = lockRunDir(dir);
 * let refused = false;
 * try {
 *   lockRunDir(dir);
 * } catch {
 *   refused = true;
 * }
 * lock.release();
 * if (!refused) throw new Error("a second owner was let in");
 * ```
 */
export function lockRunDir(runDir: string, onTakeOver?: (message: string) => void): RunLock {
  const path = join(runDir, LOCK_FILE);
  const me: LockOwner = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (_create(path, me)) return { release: () => _release(path, me) };
    const owner = readLockOwner(path);
    if (owner === null) continue; // removed between the two calls, or half-written: try again
    if (owner.host !== me.host || processAlive(owner.pid)) {
      const where = owner.host === me.host ? "" : ` on ${owner.host}`;
      throw new UsageError(
        `${runDir} is in use by process ${owner.pid}${where} since ${owner.since}; wait for it to end` +
          (owner.host === me.host ? "" : `, or delete ${path} if that process is gone`),
      );
    }
    try {
      Deno.removeSync(path);
    } catch { /* another process took it over first: the next create decides */ }
    onTakeOver?.(`took over ${path} from process ${owner.pid}, which is no longer running`);
  }
  throw new UsageError(`${runDir}: cannot take ${LOCK_FILE} (other processes keep taking it)`);
}

/**
 * @param path a `run.lock`
 * @returns its owner, or null when it is missing or unreadable
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

/**
 * @param pid a process id on this host
 * @returns false only when the process is known to be gone (Linux's /proc says so); elsewhere,
 *   where that cannot be told without more permissions, true
 */
export function processAlive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return true;
  try {
    // A zombie has exited: it holds no files and writes nothing more.
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Creates the lock whole or not at all: written aside, then hard-linked into place (fails if it exists). */
function _create(path: string, me: LockOwner): boolean {
  const tmp = `${path}.tmp-${Deno.pid}`;
  Deno.writeTextFileSync(tmp, JSON.stringify(me) + "\n");
  try {
    Deno.linkSync(tmp, path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) return false;
    throw err;
  } finally {
    Deno.removeSync(tmp);
  }
}

function _release(path: string, me: LockOwner): void {
  const owner = readLockOwner(path);
  if (owner && owner.pid === me.pid && owner.host === me.host && owner.since === me.since) {
    try {
      Deno.removeSync(path);
    } catch { /* already gone */ }
  }
}
