/** An RGB pixel buffer that the pictures are drawn into and saved as PNG (fast-png). */
import { encode } from "fast-png";
import { GLYPH_ADVANCE, GLYPH_HEIGHT, glyphPixel } from "./font.ts";

/** A colour: red, green, blue, each 0–255. */
export type Rgb = readonly [number, number, number];

/** White, the background of every picture. */
export const WHITE: Rgb = [255, 255, 255];
/** Text colour. */
export const INK: Rgb = [20, 20, 20];

/** A white picture of a fixed size, 8-bit RGB. */
export class Canvas {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** [height, width, 3] row-major. */
  readonly pixels: Uint8Array;

  /**
   * @param width pixels across
   * @param height pixels down
   */
  constructor(width: number, height: number) {
    this.width = Math.max(1, Math.ceil(width));
    this.height = Math.max(1, Math.ceil(height));
    this.pixels = new Uint8Array(this.width * this.height * 3).fill(255);
  }

  /**
   * Sets one pixel; outside the picture it does nothing.
   * @param x column
   * @param y row
   * @param c colour
   */
  set(x: number, y: number, c: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 3;
    this.pixels[o] = c[0];
    this.pixels[o + 1] = c[1];
    this.pixels[o + 2] = c[2];
  }

  /**
   * Fills a rectangle.
   * @param x left
   * @param y top
   * @param w width
   * @param h height
   * @param c colour
   */
  fill(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let j = y; j < y + h; j++) for (let i = x; i < x + w; i++) this.set(i, j, c);
  }

  /**
   * Draws a grid of colours, each cell `scale`×`scale` pixels (nearest-neighbour upsampling).
   * @param x left
   * @param y top
   * @param cols cells across
   * @param rows cells down
   * @param scale pixels per cell
   * @param color the colour of cell (column, row)
   */
  cells(x: number, y: number, cols: number, rows: number, scale: number, color: (i: number, j: number) => Rgb): void {
    for (let j = 0; j < rows; j++) {
      for (let i = 0; i < cols; i++) this.fill(x + i * scale, y + j * scale, scale, scale, color(i, j));
    }
  }

  /**
   * Writes a line of text with the bitmap font.
   * @param x left
   * @param y top
   * @param text the line (printable ASCII)
   * @param c colour
   * @param scale pixels per font pixel
   */
  text(x: number, y: number, text: string, c: Rgb = INK, scale = 1): void {
    [...text].forEach((ch, n) => {
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < 5; gx++) {
          if (glyphPixel(ch, gx, gy)) this.fill(x + (n * GLYPH_ADVANCE + gx) * scale, y + gy * scale, scale, scale, c);
        }
      }
    });
  }

  /** @returns the picture as PNG bytes (RGB, 8 bits, no metadata: the same pixels give the same bytes) */
  toPng(): Uint8Array {
    return encode({ width: this.width, height: this.height, data: this.pixels, channels: 3, depth: 8 });
  }
}
