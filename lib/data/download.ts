/**
 * Downloading a dataset's official tarball, checking its MD5 and unpacking it.
 *
 * Steps, each skipped when its result is already there: the unpacked folder exists with every
 * file → nothing to do; `<dir>/<archive>` exists with the right MD5 → no download; else it is
 * fetched to `<archive>.part`, hashed while it streams, and renamed only when the MD5 matches.
 * It is unpacked into a temporary folder and the release folder renamed into place, so an
 * interrupted run never leaves a half-unpacked dataset. The archive is kept (delete it by hand).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.ts";
import { CIFAR_FOLDERS, type CifarName } from "./cifar.ts";
import { extractTar } from "./tar.ts";

/** Where a release comes from and what it unpacks to. */
export interface DatasetSource {
  url: string;
  /** MD5 of the archive, lowercase hex, as the dataset's page publishes it. */
  md5: string;
  /** The archive's file name. */
  archive: string;
  /** The folder the archive unpacks to. */
  folder: string;
  /** Files that must exist in `folder` once unpacked. */
  files: string[];
}

/** The official CIFAR binary releases (https://www.cs.toronto.edu/~kriz/cifar.html). */
export const DOWNLOADS: Record<CifarName, DatasetSource> = {
  cifar10: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
    archive: "cifar-10-binary.tar.gz",
    folder: CIFAR_FOLDERS.cifar10,
    files: [
      "data_batch_1.bin",
      "data_batch_2.bin",
      "data_batch_3.bin",
      "data_batch_4.bin",
      "data_batch_5.bin",
      "test_batch.bin",
    ],
  },
  cifar100: {
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
    archive: "cifar-100-binary.tar.gz",
    folder: CIFAR_FOLDERS.cifar100,
    files: ["train.bin", "test.bin"],
  },
};

/** What is happening when progress is reported. */
export type DownloadPhase = "download" | "verify" | "unpack";

/** Options of {@linkcode downloadDataset}. */
export interface DownloadOptions {
  /** Fetch from here instead of the official address (a mirror, or a test server). */
  url?: string;
  /** Expect this MD5 instead of the official one. */
  md5?: string;
  /** Bytes done and total (0 when the server does not say) of the current phase. */
  onProgress?: (phase: DownloadPhase, done: number, total: number) => void;
  /** The fetch to use; default the global one. */
  fetch?: typeof fetch;
}

/**
 * Makes a release available under `dir`, downloading and unpacking it if needed.
 * @param name `cifar10` or `cifar100`
 * @param dir the folder to put the archive and the unpacked folder in (created if needed)
 * @param opts address, checksum, progress callback
 * @returns the unpacked folder (e.g. `<dir>/cifar-10-batches-bin`)
 * @throws {DataError} when the download fails, the MD5 differs or the archive is malformed
 */
export async function downloadDataset(name: CifarName, dir: string, opts: DownloadOptions = {}): Promise<string> {
  const src = DOWNLOADS[name];
  const folder = join(dir, src.folder);
  if (src.files.every((f) => existsSync(join(folder, f)))) return folder;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new DataError(`${dir}: cannot create the folder (${(err as Error).message})`);
  }
  const archive = join(dir, src.archive);
  const md5 = (opts.md5 ?? src.md5).toLowerCase();
  const have = existsSync(archive) ? await md5File(archive, opts.onProgress) : undefined;
  if (have !== md5) await downloadFile(opts.url ?? src.url, archive, { ...opts, md5 });
  await unpackTarGz(archive, dir, src.folder, opts.onProgress);
  const missing = src.files.filter((f) => !existsSync(join(folder, f)));
  if (missing.length > 0) throw new DataError(`${archive}: the archive lacks ${missing.join(", ")}`);
  return folder;
}

/**
 * Downloads a file, hashing it as it arrives; it appears at `path` only if the MD5 matches.
 * @param url where from
 * @param path where to
 * @param opts `md5` to insist on (lowercase hex), progress callback, fetch to use
 * @throws {DataError} on a network error, an HTTP error status or an MD5 mismatch
 */
export async function downloadFile(
  url: string,
  path: string,
  opts: Pick<DownloadOptions, "onProgress" | "fetch"> & { md5?: string } = {},
): Promise<void> {
  const part = `${path}.part`;
  let response: Response;
  try {
    response = await (opts.fetch ?? fetch)(url);
  } catch (err) {
    throw new DataError(`${url}: download failed (${(err as Error).message})`);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new DataError(`${url}: download failed (HTTP ${response.status} ${response.statusText})`);
  }
  const total = Number(response.headers.get("content-length") ?? 0) || 0;
  const hash = createHash("md5");
  let done = 0;
  const file = Deno.openSync(part, { write: true, create: true, truncate: true });
  try {
    for await (const chunk of response.body) {
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
      done += chunk.length;
      opts.onProgress?.("download", done, total);
    }
  } catch (err) {
    file.close();
    rmSync(part, { force: true });
    throw new DataError(`${url}: download interrupted after ${done} bytes (${(err as Error).message})`);
  }
  file.close();
  const got = hash.digest("hex");
  if (opts.md5 !== undefined && got !== opts.md5.toLowerCase()) {
    rmSync(part, { force: true });
    throw new DataError(
      `${url}: MD5 mismatch: expected ${opts.md5.toLowerCase()}, got ${got} (${done} bytes); the download is corrupt or the file changed`,
    );
  }
  renameSync(part, path);
}

/**
 * @param path a file
 * @param onProgress called with ("verify", bytes hashed, file size)
 * @returns its MD5, lowercase hex
 */
export async function md5File(
  path: string,
  onProgress?: (phase: DownloadPhase, done: number, total: number) => void,
): Promise<string> {
  const hash = createHash("md5");
  const total = Deno.statSync(path).size;
  let done = 0;
  // The readable closes the file when it ends or is cancelled.
  const file = await Deno.open(path);
  for await (const chunk of file.readable) {
    hash.update(chunk);
    done += chunk.length;
    onProgress?.("verify", done, total);
  }
  return hash.digest("hex");
}

/**
 * Unpacks a `.tar.gz` and moves one folder of it into `dir`, replacing any older copy.
 * @param archive the `.tar.gz` file
 * @param dir the folder to put the result in
 * @param folder the archive's top folder to keep
 * @param onProgress called with ("unpack", compressed bytes read, archive size)
 * @returns the path of the unpacked folder
 * @throws {DataError} when the archive is not gzip/tar, is truncated, has an unsafe path or lacks `folder`
 */
export async function unpackTarGz(
  archive: string,
  dir: string,
  folder: string,
  onProgress?: (phase: DownloadPhase, done: number, total: number) => void,
): Promise<string> {
  const tmp = join(dir, `.${folder}.tmp-${Deno.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const total = Deno.statSync(archive).size;
  let done = 0;
  try {
    const file = await Deno.open(archive);
    const counted = file.readable.pipeThrough(
      new TransformStream<Uint8Array<ArrayBuffer>, BufferSource>({
        transform(chunk, ctl) {
          done += chunk.length;
          onProgress?.("unpack", done, total);
          ctl.enqueue(chunk);
        },
      }),
    );
    const tar = counted.pipeThrough(new DecompressionStream("gzip"));
    try {
      await extractTar(tar, tmp, { name: archive });
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(`${archive}: cannot unpack (${(err as Error).message})`);
    }
    if (!existsSync(join(tmp, folder))) throw new DataError(`${archive}: the archive has no '${folder}' folder`);
    const dest = join(dir, folder);
    rmSync(dest, { recursive: true, force: true });
    renameSync(join(tmp, folder), dest);
    return dest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
