/** Where vitlab keeps data it derives once and reuses (parsed datasets). */
import { join } from "node:path";

/**
 * The cache folder: `dir` if given, else `$VITLAB_CACHE`, else `$XDG_CACHE_HOME/vitlab`, else
 * `~/.cache/vitlab`. It is not created here.
 * @param dir an explicit folder, which wins over the environment
 * @param env the environment to read (tests pass their own)
 * @returns the folder's path
 *
 * @example
 * ```ts
 * import { cacheDir } from "./cache.ts";
 * if (cacheDir(undefined, { VITLAB_CACHE: "/tmp/c" }) !== "/tmp/c") throw new Error("VITLAB_CACHE ignored");
 * if (cacheDir(undefined, { HOME: "/home/a" }) !== "/home/a/.cache/vitlab") throw new Error("bad default");
 * ```
 */
export function cacheDir(dir?: string, env: Record<string, string | undefined> = _env()): string {
  if (dir !== undefined && dir !== "") return dir;
  if (env.VITLAB_CACHE) return env.VITLAB_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "vitlab");
  const home = env.HOME ?? env.USERPROFILE;
  // Without a home folder (some CI containers) a folder beside the working directory still works.
  return home ? join(home, ".cache", "vitlab") : join(".cache", "vitlab");
}

function _env(): Record<string, string | undefined> {
  const names = ["VITLAB_CACHE", "XDG_CACHE_HOME", "HOME", "USERPROFILE"];
  return Object.fromEntries(names.map((n) => [n, Deno.env.get(n)]));
}
