/**
 * Seeded random numbers: xoshiro128** streams, one per purpose.
 *
 * Every random choice in vitlab (init, dropout masks, shuffling, splits, synthetic data) draws
 * from a stream derived from the config's seed and a purpose name, so a new draw in one place
 * never shifts the numbers another place sees. Pure JS and 32-bit integer maths, so the same
 * seed gives the same numbers on every machine and backend.
 */

/** Serialisable state of an {@linkcode Rng}: four unsigned 32-bit words. */
export type RngState = [number, number, number, number];

function _splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a over the purpose name, so streams for different purposes start far apart. */
function _hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * A xoshiro128** generator.
 *
 * @example
 * ```ts
 * import { Rng } from "./random.ts";
 * const a = Rng.fromSeed(42, "init");
 * const b = Rng.fromSeed(42, "init");
 * if (a.nextU32() !== b.nextU32()) throw new Error("not reproducible");
 * ```
 */
export class Rng {
  #s: Uint32Array;

  private constructor(state: ArrayLike<number>) {
    this.#s = Uint32Array.from(state);
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
  }

  /**
   * A stream for one purpose derived from a seed.
   * @param seed the config's `train.seed`
   * @param purpose a stable name, e.g. `"init"`, `"shuffle"`, `"dropout"`
   * @returns a fresh generator
   */
  static fromSeed(seed: number, purpose = ""): Rng {
    const mix = _splitmix32((seed >>> 0) ^ Math.imul(_hashString(purpose), 0x27d4eb2d));
    // Seed mixing also folds in the high bits of seeds above 2^32.
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    return new Rng([mix() ^ hi, mix(), mix(), mix()]);
  }

  /**
   * Restores a generator from {@linkcode Rng.state}.
   * @param state four 32-bit words
   * @returns the generator at exactly that point of its stream
   */
  static fromState(state: RngState): Rng {
    return new Rng(state);
  }

  /**
   * Where the generator stands, so a resumed run continues the same stream.
   * @returns the generator's state, to store in a checkpoint
   */
  state(): RngState {
    return [this.#s[0]!, this.#s[1]!, this.#s[2]!, this.#s[3]!];
  }

  /**
   * Advances the stream by one draw; every other method draws through this.
   * @returns the next unsigned 32-bit integer
   */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(_rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = _rotl(s[3]!, 11);
    return result;
  }

  /**
   * A uniform float.
   * @returns a float in [0, 1) with 32 random bits
   */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /**
   * A uniform integer, by rejection so that every value is equally likely.
   * @param n exclusive upper bound, at most 2^32
   * @returns an integer in [0, n), without modulo bias
   */
  int(n: number): number {
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }

  /**
   * A standard normal sample (Box–Muller). The second value of each pair is dropped so that
   * the four state words are the whole state, which makes resuming exact.
   * @returns the sample
   */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * Seeds a tfjs op from this stream, so its randomness follows the config's seed too.
   * @returns a seed for a tfjs op that takes one (dropout masks), drawn from this stream
   */
  seed(): number {
    return this.nextU32();
  }

  /**
   * Fisher–Yates shuffle in place.
   * @param items array to shuffle
   * @returns the same array
   */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): typeof items {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * A shuffled range, e.g. an epoch's data order.
   * @param n size
   * @returns a random permutation of 0..n-1
   */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }
}

function _rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
