/**
 * Decoding PNG and JPEG files to 8-bit pixels, in pure JS (fast-png, jpeg-js: no native addon),
 * and converting them to 1 or 3 channels as PIL's `convert("L")` / `convert("RGB")` do.
 */
import { convertIndexedToRgb, decode as decodePng } from "fast-png";
import jpeg from "jpeg-js";
import { DataError } from "../errors.ts";

/** A decoded image: uint8 [height, width, channels] (HWC), channels 1–4 (grey, grey+alpha, RGB, RGBA). */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/**
 * Decodes a PNG or JPEG (recognised by its first bytes, not its name).
 * @param bytes the file's contents
 * @param name file name for error messages
 * @returns 8-bit pixels; 16-bit PNGs are scaled down, 1/2/4-bit ones scaled up, palettes expanded
 * @throws {DataError} naming the file when it is neither format or is corrupt
 */
export function decodeImage(bytes: Uint8Array, name: string): RawImage {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new DataError(`${name}: not a PNG or JPEG image`);
  let image: RawImage;
  try {
    image = isPng ? _png(bytes) : _jpeg(bytes);
  } catch (err) {
    throw new DataError(`${name}: corrupt ${isPng ? "PNG" : "JPEG"} image (${(err as Error).message})`);
  }
  if (image.width === 0 || image.height === 0 || image.data.length < image.width * image.height * image.channels) {
    throw new DataError(`${name}: corrupt ${isPng ? "PNG" : "JPEG"} image (no pixel data)`);
  }
  return image;
}

function _png(bytes: Uint8Array): RawImage {
  const png = decodePng(bytes);
  const { width, height } = png;
  if (png.palette) {
    const data = convertIndexedToRgb(png);
    return { width, height, channels: png.palette[0]!.length, data };
  }
  const c = png.channels;
  const n = width * height * c;
  if (png.depth === 8) return { width, height, channels: c, data: Uint8Array.from(png.data.subarray(0, n)) };
  const data = new Uint8Array(n);
  if (png.depth === 16) {
    for (let i = 0; i < n; i++) data[i] = Math.round(png.data[i]! / 257);
    return { width, height, channels: c, data };
  }
  // 1, 2 or 4 bits per sample (grey only), packed big-endian, each row starting on a byte.
  const d = png.depth;
  const max = (1 << d) - 1;
  const rowBytes = Math.ceil((width * c * d) / 8);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * c; x++) {
      const bit = x * d;
      const byte = png.data[y * rowBytes + (bit >> 3)]!;
      const v = (byte >> (8 - d - (bit & 7))) & max;
      data[y * width * c + x] = Math.round((v * 255) / max);
    }
  }
  return { width, height, channels: c, data };
}

function _jpeg(bytes: Uint8Array): RawImage {
  // jpeg-js always gives RGB (grey JPEGs replicated); limits guard against decompression bombs.
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 100 });
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}

/**
 * Converts to grey or RGB. Alpha is dropped (not composited), as PIL's convert does; grey is
 * PIL's ITU-R 601-2 luma, L = (19595·R + 38470·G + 7471·B + 2^15) >> 16.
 * @param image a decoded image
 * @param channels 1 or 3
 * @returns uint8 [height, width, channels]
 *
 * @example
 * ```ts
 * import { toChannels } from "./decode_image.ts";
 * const grey = toChannels({ width: 1, height: 1, channels: 3, data: Uint8Array.from([255, 0, 0]) }, 1);
 * if (grey.data[0] !== 76) throw new Error(`red is ${grey.data[0]} in L`);
 * ```
 */
export function toChannels(image: RawImage, channels: 1 | 3): RawImage {
  const { width, height, channels: c, data } = image;
  const n = width * height;
  const colour = c >= 3;
  if (channels === c) return image;
  const out = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const s = i * c;
    if (channels === 1) {
      out[i] = colour ? (19595 * data[s]! + 38470 * data[s + 1]! + 7471 * data[s + 2]! + 0x8000) >> 16 : data[s]!;
    } else if (colour) {
      out[3 * i] = data[s]!;
      out[3 * i + 1] = data[s + 1]!;
      out[3 * i + 2] = data[s + 2]!;
    } else {
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[s]!;
    }
  }
  return { width, height, channels, data: out };
}
