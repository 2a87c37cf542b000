/**
 * A minimal streaming tar reader: enough for dataset tarballs (ustar, GNU long names, pax
 * paths). Regular files and folders are written; links and devices are skipped, and a path
 * that is absolute or climbs out with `..` is refused, so an archive cannot write outside
 * its destination.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "../errors.ts";

const BLOCK = 512;
const decoder = new TextDecoder();

/** Reads exact byte counts from a stream of chunks of any size. */
class _ChunkReader {
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** @returns up to `max` bytes (fewer at a chunk boundary), or null at the end of the stream */
  async some(max: number): Promise<Uint8Array | null> {
    if (this.#buf.length === 0) {
      const r = await this.#it.next();
      if (r.done) return null;
      this.#buf = r.value;
    }
    const out = this.#buf.subarray(0, Math.min(max, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /** @returns exactly `n` bytes, or null if the stream ends first */
  async exact(n: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const part = await this.some(n - got);
      if (part === null) return null;
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  /** Stops reading: cancels the source, which closes whatever file feeds it. */
  async cancel(): Promise<void> {
    await this.#it.return?.();
  }
}

/** Options of {@linkcode extractTar}. */
export interface ExtractOptions {
  /** Name used in error messages (the archive's path). */
  name?: string;
}

/**
 * Extracts a tar stream into a folder.
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
  const reader = new _ChunkReader(source);
  try {
    return await _extract(reader, dest, name);
  } finally {
    // The end-of-archive padding (and anything after an error) is never read: release the source.
    await reader.cancel();
  }
}

async function _extract(reader: _ChunkReader, dest: string, name: string): Promise<string[]> {
  const written: string[] = [];
  mkdirSync(dest, { recursive: true });
  let longName: string | undefined;
  let paxPath: string | undefined;
  for (;;) {
    const header = await reader.exact(BLOCK);
    // A missing end-of-archive marker is common (some writers stop after the last file).
    if (header === null || header.every((b) => b === 0)) break;
    _checkHeader(header, name, reader.consumed - BLOCK);
    const size = _size(header, name);
    const type = String.fromCharCode(header[156]!);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L" || type === "x") {
      const body = await reader.exact(padded);
      if (body === null) throw new DataError(`${name}: truncated tar archive`);
      const text = decoder.decode(body.subarray(0, size));
      if (type === "L") longName = text.replace(/\0.*$/s, "");
      else paxPath = _paxPath(text) ?? paxPath;
      continue;
    }
    const path = paxPath ?? longName ?? _headerPath(header);
    longName = paxPath = undefined;
    const isFile = type === "0" || type === "\0" || type === "7";
    const rel = isFile || type === "5" ? _safePath(path, name) : undefined;
    if (type === "5" && rel !== undefined) mkdirSync(join(dest, rel), { recursive: true });
    let file: Deno.FsFile | undefined;
    if (isFile && rel !== undefined) {
      mkdirSync(dirname(join(dest, rel)), { recursive: true });
      file = Deno.openSync(join(dest, rel), { write: true, create: true, truncate: true });
      written.push(rel);
    }
    try {
      // Stream the body (and its padding) straight to disk: dataset members are tens of MB.
      let left = padded;
      while (left > 0) {
        const part = await reader.some(left);
        if (part === null) throw new DataError(`${name}: truncated tar archive (in '${path}')`);
        const dataEnd = Math.max(0, Math.min(part.length, size - (padded - left)));
        if (file && dataEnd > 0) await _writeAll(file, part.subarray(0, dataEnd));
        left -= part.length;
      }
    } finally {
      file?.close();
    }
  }
  return written;
}

async function _writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

function _checkHeader(header: Uint8Array, name: string, offset: number): void {
  const stored = parseInt(decoder.decode(header.subarray(148, 156)).replace(/[\0 ]+$/g, "").trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  if (!Number.isFinite(stored) || stored !== sum) {
    throw new DataError(`${name}: not a tar archive, or corrupt (bad header checksum at byte ${offset})`);
  }
}

function _size(header: Uint8Array, name: string): number {
  const field = header.subarray(124, 136);
  if (field[0]! & 0x80) {
    // GNU base-256 for sizes of 8 GiB and more.
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = decoder.decode(field).replace(/\0.*$/s, "").trim();
  const n = text === "" ? 0 : parseInt(text, 8);
  if (!Number.isFinite(n) || n < 0) throw new DataError(`${name}: bad size field '${text}' in a tar header`);
  return n;
}

function _headerPath(header: Uint8Array): string {
  const field = (a: number, b: number) => decoder.decode(header.subarray(a, b)).replace(/\0.*$/s, "");
  const base = field(0, 100);
  const isUstar = field(257, 262) === "ustar";
  const prefix = isUstar ? field(345, 500) : "";
  return prefix ? `${prefix}/${base}` : base;
}

/** @returns the `path` record of a pax extended header ("<len> path=<value>\n" records) */
function _paxPath(text: string): string | undefined {
  let path: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^\d+ path=(.*)$/s.exec(line);
    if (m) path = m[1];
  }
  return path;
}

function _safePath(path: string, name: string): string | undefined {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (path.startsWith("/") || parts.includes("..") || /^[A-Za-z]:/.test(path) || path.includes("\\")) {
    throw new DataError(`${name}: refusing unsafe path '${path}' in tar archive`);
  }
  return parts.length === 0 ? undefined : parts.join("/");
}
