/**
 * The safetensors format (as huggingface/safetensors writes it): an 8-byte little-endian header
 * length, a JSON header of `{name: {dtype, shape, data_offsets}}` plus `__metadata__`, then the
 * raw little-endian data. vitlab writes and reads float32 only.
 */
import { readFileSync } from "node:fs";
import { CheckpointError, fileErrorReason } from "../errors.ts";
import { writeFileAtomic } from "./atomic.ts";

/** One named float32 tensor. */
export interface NamedArray {
  /** The tensor's key in the file: timm's parameter name in a checkpoint. */
  name: string;
  /** Its shape; in a checkpoint, timm's layout (e.g. [3D, D] for a qkv weight). */
  shape: number[];
  /** The values, row-major over `shape`. */
  data: Float32Array;
}

/** A decoded file. */
export interface SafetensorsFile {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

/**
 * Encodes tensors (sorted by name, as the reference writer does).
 * @param tensors float32 tensors
 * @param metadata string → string map stored under `__metadata__`
 * @returns the file's bytes
 */
export function encodeSafetensors(tensors: NamedArray[], metadata: Record<string, string> = {}): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of sorted) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new Error(`tensor '${t.name}': shape ${t.shape} holds ${size} values, data has ${t.data.length}`);
    }
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of sorted) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (_littleEndian) out.set(bytes, pos);
    else for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i]!, true);
    pos += bytes.length;
  }
  return out;
}

/**
 * Decodes a file's bytes, checking every offset.
 * @param bytes file contents
 * @param name file name for errors
 * @returns tensors and metadata
 * @throws {CheckpointError} on a truncated or malformed file, or a dtype other than F32
 */
export function decodeSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new CheckpointError(`${name}: not a readable safetensors checkpoint (${why})`);
  };
  if (bytes.length < 8) fail("file is shorter than its 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) fail(`header length ${headerLen} exceeds file size ${bytes.length}`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch {
    return fail("header is not valid JSON");
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) fail("header is not a JSON object");
  const dataStart = 8 + headerLen;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, NamedArray>();
  const ranges: [number, number, string][] = [];
  const data = bytes.subarray(dataStart);
  for (const [key, value] of Object.entries(header)) {
    if (key === "__metadata__") {
      for (const [mk, mv] of Object.entries((value ?? {}) as Record<string, unknown>)) metadata[mk] = String(mv);
      continue;
    }
    const t = _tensor(key, value, data, fail);
    tensors.set(key, t.array);
    ranges.push([t.begin, t.end, key]);
  }
  _checkTiling(ranges, data.length, fail);
  return { tensors, metadata };
}

/**
 * Writes a file atomically (temporary name, sync, rename).
 * @param path destination
 * @param tensors float32 tensors
 * @param metadata `__metadata__` strings
 */
export function writeSafetensors(path: string, tensors: NamedArray[], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads a file.
 * @param path the file
 * @returns tensors and metadata
 * @throws {CheckpointError} when missing, truncated or malformed
 */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read checkpoint (${fileErrorReason(err)})`);
  }
  return decodeSafetensors(bytes, path);
}

/** One tensor's header entry, checked, and its values read (little-endian float32). */
function _tensor(
  key: string,
  value: unknown,
  data: Uint8Array,
  fail: (why: string) => never,
): { array: NamedArray; begin: number; end: number } {
  const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (info?.dtype !== "F32") fail(`tensor '${key}' has dtype ${String(info?.dtype)}, only F32 is supported`);
  const shape = info.shape;
  const offsets = info.data_offsets;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    fail(`tensor '${key}' has a bad shape`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`tensor '${key}' has bad data_offsets`);
  const [begin, end] = offsets as [number, number];
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) {
    fail(`tensor '${key}' has data_offsets [${begin}, ${end}], not whole byte offsets`);
  }
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  if (!(begin >= 0 && end <= data.length && end - begin === 4 * size)) {
    const needs = 4 * size;
    fail(
      `tensor '${key}' data [${begin}, ${end}) does not fit the file (data is ${data.length} bytes, shape needs ${needs})`,
    );
  }
  const values = new Float32Array(size);
  const src = new DataView(data.buffer, data.byteOffset + begin, end - begin);
  for (let i = 0; i < size; i++) values[i] = src.getFloat32(4 * i, true);
  return { array: { name: key, shape: shape as number[], data: values }, begin, end };
}

/** The format's rule: the tensors tile the data in order, with no overlap and no hole. */
function _checkTiling(ranges: [number, number, string][], dataLen: number, fail: (why: string) => never): void {
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [begin, end, key] of ranges) {
    if (begin < at) fail(`tensor '${key}' data [${begin}, ${end}) overlaps the tensor before it (which ends at ${at})`);
    if (begin > at) fail(`data bytes [${at}, ${begin}) belong to no tensor`);
    at = end;
  }
  if (at !== dataLen) fail(`tensors cover ${at} of ${dataLen} data bytes (truncated or padded file)`);
}

/**
 * Reads only a checkpoint's header: its metadata, without the tensors (a quick look at which
 * epoch a file holds).
 * @param path the `.safetensors` file
 * @returns its `__metadata__` strings
 * @throws {CheckpointError} when the file or its header cannot be read
 */
export function readSafetensorsHeader(path: string): { metadata: Record<string, string> } {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (err) {
    throw new CheckpointError(`${path}: cannot read checkpoint (${fileErrorReason(err)})`);
  }
  try {
    const head = new Uint8Array(8);
    const fail = (why: string): never => {
      throw new CheckpointError(`${path}: not a readable safetensors checkpoint (${why})`);
    };
    const size = file.statSync().size;
    if (size < 8 || file.readSync(head) !== 8) fail("file is shorter than its 8-byte header length");
    const len = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (len > size - 8) fail(`header length ${len} exceeds file size ${size}`);
    const bytes = new Uint8Array(len);
    for (let got = 0; got < len;) {
      const n = file.readSync(bytes.subarray(got));
      if (n === null) return fail("truncated header");
      got += n;
    }
    const header = JSON.parse(new TextDecoder().decode(bytes)) as { __metadata__?: Record<string, string> };
    return { metadata: header.__metadata__ ?? {} };
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(`${path}: not a readable safetensors checkpoint (${(err as Error).message})`);
  } finally {
    file.close();
  }
}

const _littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
