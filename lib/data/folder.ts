/**
 * Image folders in torchvision's ImageFolder layout:
 *
 * ```
 * root/train/<class>/*.png|jpg|jpeg
 * root/val/<class>/…        (or root/test/<class>/…)
 * ```
 *
 * Class names are the training split's sub-folders, sorted (by UTF-16 code unit, as Python's
 * `sorted` for ordinary names); their positions are the labels. Files are taken in sorted order
 * within each class, classes in label order. Each image is decoded, converted to 1 or 3
 * channels and resized (bilinear, antialiased) to `imageSize`×`imageSize` — squashed, not
 * cropped, when it is not square.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.ts";
import { decodeImage, toChannels } from "./decode_image.ts";
import type { ImageSet } from "./image_set.ts";
import { resizeBilinear } from "./resize.ts";

const EXTENSIONS = /\.(png|jpe?g)$/i;

/** What {@linkcode scanImageFolder} finds. */
export interface FolderListing {
  /** The split's folder. */
  dir: string;
  /** Class names, sorted; a label is an index into this. */
  classes: string[];
  /** Every image file with its label, classes in order, files sorted within a class. */
  files: { path: string; label: number }[];
}

/** Options of {@linkcode loadImageFolder}. */
export interface ImageFolderOptions {
  /** Output side in pixels; every image is resized to imageSize×imageSize. */
  imageSize: number;
  /** Output channels: 1 (grey, ITU-R 601-2 luma) or 3 (RGB). */
  channels: 1 | 3;
  /** Called with (images decoded, images in the split). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The folder of a split: `root/train`, or for `test` `root/val` (or `root/test` when there is no `val`).
 * @param root the dataset's root folder
 * @param split `train` or `test`
 * @returns the split's folder
 * @throws {DataError} when it does not exist
 */
export function imageFolderSplitDir(root: string, split: "train" | "test"): string {
  const names = split === "train" ? ["train"] : ["val", "test"];
  for (const n of names) {
    const dir = join(root, n);
    if (_isDir(dir)) return dir;
  }
  throw new DataError(
    `${join(root, names[0]!)}: no such folder${names.length > 1 ? ` (nor ${join(root, "test")})` : ""}`,
  );
}

/**
 * Lists a split without decoding anything (cheap: for class counts and file hashes).
 * @param root the dataset's root folder
 * @param split `train` or `test`
 * @param classes the class list to use (the training split's, for `test`); default the split's own sub-folders
 * @returns the class names and the labelled files
 * @throws {DataError} when the folder is missing, has no class folders, a training class has no
 *   image, or a test class is not among `classes`
 */
export function scanImageFolder(root: string, split: "train" | "test", classes?: string[]): FolderListing {
  const dir = imageFolderSplitDir(root, split);
  const found = _subdirs(dir);
  if (found.length === 0) throw new DataError(`${dir}: no class folders (expected ${dir}/<class>/<image>.png)`);
  const names = classes ?? found;
  for (const f of found) {
    if (!names.includes(f)) {
      throw new DataError(`${join(dir, f)}: class '${f}' is not among the training classes (${names.join(", ")})`);
    }
  }
  const files: { path: string; label: number }[] = [];
  names.forEach((name, label) => {
    if (!found.includes(name)) return;
    const classDir = join(dir, name);
    const images = readdirSync(classDir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith(".") && EXTENSIONS.test(e.name) && !e.isDirectory())
      .map((e) => e.name)
      .sort(_compare);
    if (images.length === 0 && classes === undefined) {
      throw new DataError(`${classDir}: no .png, .jpg or .jpeg images in class folder`);
    }
    for (const img of images) files.push({ path: join(classDir, img), label });
  });
  return { dir, classes: names, files };
}

/**
 * Loads a split of an image folder.
 * @param root the dataset's root folder
 * @param split `train` or `test` (`val/`, else `test/`)
 * @param opts output size and channels, progress callback
 * @param classes the class list (pass the training split's when loading `test`); default the split's own
 * @returns the images (uint8 imageSize×imageSize×channels), the class names and the file of each
 *   example (`sourceIndex` is its position in `files`)
 * @throws {DataError} naming the file when an image is unreadable or corrupt, or the folder layout is wrong
 */
export function loadImageFolder(
  root: string,
  split: "train" | "test",
  opts: ImageFolderOptions,
  classes?: string[],
): { set: ImageSet; classes: string[]; files: string[] } {
  const listing = scanImageFolder(root, split, classes);
  const s = opts.imageSize;
  const c = opts.channels;
  const n = listing.files.length;
  const size = s * s * c;
  const images = new Uint8Array(n * size);
  const labels = new Int32Array(n);
  listing.files.forEach((f, i) => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(f.path);
    } catch (err) {
      throw new DataError(`${f.path}: cannot read image (${(err as Error).message})`);
    }
    const img = toChannels(decodeImage(bytes, f.path), c);
    images.set(resizeBilinear(img.data, img.height, img.width, c, s, s), i * size);
    labels[i] = f.label;
    opts.onProgress?.(i + 1, n);
  });
  const sourceIndex = Int32Array.from({ length: n }, (_, i) => i);
  return {
    set: {
      images,
      labels,
      sourceIndex,
      count: n,
      height: s,
      width: s,
      channels: c,
      numClasses: listing.classes.length,
    },
    classes: listing.classes,
    files: listing.files.map((f) => f.path),
  };
}

/**
 * Loads both splits with one class list (the training split's).
 * @param root the dataset's root folder
 * @param opts output size and channels, progress callback (called per split)
 * @returns `{ train, test, classes }`
 * @throws {DataError} as {@linkcode loadImageFolder}
 */
export function loadImageFolderSplits(
  root: string,
  opts: ImageFolderOptions,
): { train: ImageSet; test: ImageSet; classes: string[] } {
  const train = loadImageFolder(root, "train", opts);
  const test = loadImageFolder(root, "test", opts, train.classes);
  return { train: train.set, test: test.set, classes: train.classes };
}

function _subdirs(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw new DataError(`${dir}: cannot list folder (${(err as Error).message})`);
  }
  // Symlinked class folders count, as in torchvision (os.scandir follows links).
  return entries
    .filter((e) => !e.name.startsWith(".") && (e.isDirectory() || (e.isSymbolicLink() && _isDir(join(dir, e.name)))))
    .map((e) => e.name)
    .sort(_compare);
}

function _isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** Plain code-unit order, independent of the locale (unlike localeCompare). */
function _compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
