/**
 * SVG → PNG without a browser: resvg compiled to WebAssembly, with a TrueType font from the
 * system for the text (the WebAssembly build cannot look fonts up itself).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { RunError } from "../errors.ts";

/** Sans-serif fonts tried in order: file name and family name. */
export const PNG_FONTS: readonly [file: string, family: string][] = [
  ["DejaVuSans.ttf", "DejaVu Sans"],
  ["LiberationSans-Regular.ttf", "Liberation Sans"],
  ["NotoSans-Regular.ttf", "Noto Sans"],
  ["Arial.ttf", "Arial"],
  ["arial.ttf", "Arial"],
  ["FreeSans.ttf", "FreeSans"],
  ["Helvetica.ttc", "Helvetica"],
];

/** Where fonts are looked for (searched to a depth of three folders). */
export const FONT_DIRS: readonly string[] = [
  "/usr/share/fonts",
  "/usr/local/share/fonts",
  "/System/Library/Fonts",
  "/Library/Fonts",
  "C:\\Windows\\Fonts",
];

let _ready: Promise<void> | undefined;

/**
 * @param dirs folders to search
 * @returns the first font of {@link PNG_FONTS} found, or null
 */
export function findFont(dirs: readonly string[] = FONT_DIRS): { path: string; family: string } | null {
  const files = new Map<string, string>();
  const walk = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (!files.has(name)) files.set(name, path);
      if (depth > 0 && _isDir(path)) walk(path, depth - 1);
    }
  };
  for (const dir of dirs) walk(dir, 3);
  for (const [file, family] of PNG_FONTS) {
    const path = files.get(file);
    if (path !== undefined) return { path, family };
  }
  return null;
}

/**
 * @param svg an SVG document
 * @param scale pixels per SVG unit (2 gives a sharp picture on high-density screens)
 * @returns PNG bytes, on a white background
 * @throws {RunError} when no font for the text is found, or resvg fails
 */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const font = findFont();
  if (font === null) {
    throw new RunError(
      `PNG needs a TrueType font for its text and none of ${PNG_FONTS.map(([f]) => f).join(", ")} is under ${
        FONT_DIRS.join(", ")
      }; install one (Debian: fonts-dejavu-core) or plot to .svg`,
    );
  }
  _ready ??= _init();
  await _ready;
  try {
    const resvg = new Resvg(svg, {
      fitTo: { mode: "zoom", value: scale },
      background: "white",
      font: {
        fontBuffers: [readFileSync(font.path)],
        defaultFontFamily: font.family,
        sansSerifFamily: font.family,
      },
    });
    return resvg.render().asPng();
  } catch (err) {
    throw new RunError(`cannot render the plot to PNG (${(err as Error).message})`);
  }
}

async function _init(): Promise<void> {
  // The .wasm file sits next to the package's entry module (node_modules or Deno's cache).
  const url = new URL("./index_bg.wasm", import.meta.resolve("@resvg/resvg-wasm"));
  let bytes: Uint8Array;
  try {
    bytes = url.protocol === "file:" ? readFileSync(url) : new Uint8Array(await (await fetch(url)).arrayBuffer());
  } catch (err) {
    _ready = undefined;
    throw new RunError(`cannot load resvg's WebAssembly from ${url} (${(err as Error).message}); run 'deno install'`);
  }
  await initWasm(bytes);
}

function _isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
