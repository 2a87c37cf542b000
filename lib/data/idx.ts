/**
 * A reader for IDX files, the format MNIST ships in (gzip-compressed or not).
 *
 * Format: two zero bytes, a type byte (0x08 = uint8), a rank byte, then `rank` big-endian
 * uint32 dimensions, then the data row-major.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { DataError, fileErrorReason } from "../errors.ts";

/** A decoded IDX array. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Decodes IDX bytes.
 * @param bytes file contents (gzip is detected by its magic number)
 * @param name file name for error messages
 * @returns dimensions and uint8 data
 * @throws {DataError} on a bad magic number, a type other than uint8, or a truncated body
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxArray {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DataError(`${name}: corrupt gzip data (${(err as Error).message})`);
    }
  }
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${name}: not an IDX file (bad magic number)`);
  }
  if (bytes[2] !== 0x08) {
    throw new DataError(
      `${name}: IDX element type 0x${bytes[2]!.toString(16)} is not supported (expected 0x08, uint8)`,
    );
  }
  const rank = bytes[3]!;
  const headerSize = 4 + 4 * rank;
  if (rank === 0 || bytes.length < headerSize) throw new DataError(`${name}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerSize < size) {
    throw new DataError(
      `${name}: truncated IDX file: header declares ${dims.join("×")} = ${size} bytes, file holds ${
        bytes.length - headerSize
      }`,
    );
  }
  return { dims, data: bytes.subarray(headerSize, headerSize + size) };
}

/**
 * Reads an IDX file.
 * @param path the file
 * @returns dimensions and uint8 data
 * @throws {DataError} when the file is missing or malformed
 */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new DataError(`${path}: cannot read dataset file (${fileErrorReason(err)})`);
  }
  return parseIdx(bytes, path);
}
