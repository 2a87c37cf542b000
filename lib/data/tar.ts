/**
 * Streaming tar extraction for dataset tarballs, on npm's `tar-stream` (ustar, GNU long names,
 * pax headers). Regular files and folders are written; links and devices are skipped, and a
 * path that is absolute or climbs out with `..` is refused, so an archive cannot write outside
 * its destination.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { type Extract, extract } from "tar-stream";
import { DataError } from "../errors.ts";

/** Options of {@linkcode extractTar}. */
export interface ExtractOptions {
  /** Name used in error messages (the archive's path). */
  name?: string;
}

/** Where the reader is, for error messages. */
interface Position {
  /** Byte offset of the next header (after the last entry read completely). */
  next: number;
  /** Path of the entry whose body is being read, if any. */
  path?: string;
}

/**
 * Extracts a tar stream into a folder, a chunk at a time (the archive is never held in memory).
 * @param source the uncompressed tar bytes, in chunks of any size
 * @param dest the folder to write into (created if needed)
 * @param opts the name to use in messages
 * @returns the relative paths of the regular files written, in archive order
 * @throws {DataError} on a bad header checksum, a truncated archive or an unsafe path
 *
 * @example
 * ```ts
 * import { extractTar } from "./tar.ts";
 * // An archive holding nothing: two zero blocks.
 * async function* empty() { yield new Uint8Array(1024); }
 * const files = await extractTar(empty(), Deno.makeTempDirSync());
 * if (files.length !== 0) throw new Error("expected no files");
 * ```
 */
export async function extractTar(
  source: AsyncIterable<Uint8Array>,
  dest: string,
  opts: ExtractOptions = {},
): Promise<string[]> {
  const name = opts.name ?? "tar archive";
  // allowUnknownFormat: accept pre-POSIX (v7) headers too; the option is missing from the typings.
  const tar = extract({ allowUnknownFormat: true } as Parameters<typeof extract>[0]);
  const input = source[Symbol.asyncIterator]();
  const fed: { error?: unknown } = {};
  const feeding = _feed(input, tar, fed);
  const pos: Position = { next: 0 };
  try {
    return await _extract(tar, dest, name, pos);
  } catch (err) {
    if (err instanceof DataError || (fed.error !== undefined && err === fed.error)) throw err;
    throw _tarError(err, name, pos);
  } finally {
    // Stop the parser, let the feeding loop finish, and release the source (closing its file).
    tar.destroy();
    await feeding;
    await input.return?.();
  }
}

/** Writes the source into the parser, waiting whenever it asks to; a source error destroys it. */
async function _feed(input: AsyncIterator<Uint8Array>, tar: Extract, fed: { error?: unknown }): Promise<void> {
  try {
    while (!tar.destroyed) {
      const r = await input.next();
      if (r.done) {
        if (!tar.destroyed) tar.end(null); // the typings want an argument; null adds no data
        return;
      }
      if (!tar.destroyed && !tar.write(r.value)) await _drained(tar);
    }
  } catch (err) {
    fed.error = err;
    tar.destroy(err as Error);
  }
}

/** @returns a promise settled when the parser wants more input, or is gone */
function _drained(tar: Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      tar.off("drain", done);
      tar.off("close", done);
      resolve();
    };
    tar.on("drain", done);
    tar.on("close", done);
  });
}

async function _extract(tar: Extract, dest: string, name: string, pos: Position): Promise<string[]> {
  const written: string[] = [];
  mkdirSync(dest, { recursive: true });
  for await (const entry of tar) {
    const { header } = entry;
    const isFile = header.type === "file" || header.type === "contiguous-file";
    const rel = isFile || header.type === "directory" ? _safePath(header.name, name) : undefined;
    if (header.type === "directory" && rel !== undefined) mkdirSync(join(dest, rel), { recursive: true });
    let file: Deno.FsFile | undefined;
    if (isFile && rel !== undefined) {
      mkdirSync(dirname(join(dest, rel)), { recursive: true });
      file = Deno.openSync(join(dest, rel), { write: true, create: true, truncate: true });
      written.push(rel);
    }
    pos.path = header.name;
    try {
      // Stream the body straight to disk (dataset members are tens of MB); skipped entries are drained.
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        if (file) await _writeAll(file, chunk);
      }
    } finally {
      file?.close();
    }
    delete pos.path;
    pos.next = entry.offset + 512 + Math.ceil(header.size / 512) * 512;
  }
  return written;
}

async function _writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** @returns a one-line DataError for an error of the parser */
function _tarError(err: unknown, name: string, pos: Position): DataError {
  const message = err instanceof Error ? err.message : String(err);
  if (pos.path !== undefined) return new DataError(`${name}: truncated tar archive (in '${pos.path}')`);
  if (/unexpected end of data/i.test(message)) return new DataError(`${name}: truncated tar archive`);
  // Offset of the entry whose header failed (its pax or GNU long-name header, if it had one).
  const what = /^Invalid tar header\. /.test(message) ? "bad header checksum" : message.split("\n")[0];
  return new DataError(`${name}: not a tar archive, or corrupt (${what} at byte ${pos.next})`);
}

/** @returns the entry's path relative to the destination, or undefined for the archive root */
function _safePath(path: string, name: string): string | undefined {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (path.startsWith("/") || parts.includes("..") || /^[A-Za-z]:/.test(path) || path.includes("\\")) {
    throw new DataError(`${name}: refusing unsafe path '${path}' in tar archive`);
  }
  return parts.length === 0 ? undefined : parts.join("/");
}
