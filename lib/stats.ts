/** Small number helpers shared by the benchmarks and their output. */

/**
 * @param xs samples (not modified)
 * @returns their median; the mean of the middle two for an even count
 */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * @param x a number
 * @param digits decimal places to keep
 * @returns x rounded to `digits` places, as Math.round rounds
 */
export function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * @param x a number
 * @param digits significant digits to keep
 * @returns x to `digits` significant digits: a rate of a few MFLOP/s keeps its digits where
 *   `roundTo` would give 0
 */
export function roundSignificant(x: number, digits: number): number {
  return Number(x.toPrecision(digits));
}
