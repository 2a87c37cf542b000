/**
 * The `blas` backend: tfjs's wasm backend with matrix products sent to OpenBLAS through Deno's
 * FFI (Debian's libopenblas0-pthread), on every core.
 *
 * Why: the wasm backend's batched or transposed products (attention, and gradients) fall onto
 * a naive single-threaded loop, and its XNNPACK path uses one thread. OpenBLAS takes transpose
 * flags and batches natively and uses every core: measured on vit-small, a step took 260 ms
 * with flag-free products left on XNNPACK and 183 ms with every product on OpenBLAS. Operands stay in the wasm heap: sgemm reads and writes it in
 * place, so nothing is copied. From 32 tokens attention's per-head products go to OpenBLAS too
 * (simd_kernels.ts). Every other op is the wasm backend's own kernel or a vitlab one.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendError, firstLine } from "../errors.ts";
import { median } from "../stats.ts";
import type { KernelArgs, WasmInternals } from "./kernel_types.ts";
import { type HeapSgemm, useBlasAttention } from "./simd_kernels.ts";
import { useBlasBlocks } from "./block_kernels.ts";

/** cblas_sgemm's parameters, its three matrices passed as `m`: typed arrays or heap addresses. */
const _sgemmParams = <M extends "buffer" | "usize">(m: M) =>
  ["i32", "i32", "i32", "i32", "i32", "i32", "f32", m, "i32", m, "i32", "f32", m, "i32"] as const;

const _SYMBOLS = {
  cblas_sgemm: { parameters: _sgemmParams("buffer"), result: "void" },
  // The same function over addresses in the wasm heap: attention's products read q, k and v in
  // place, at strides a typed array's view cannot express without one object per call.
  cblas_sgemm_at: { name: "cblas_sgemm", parameters: _sgemmParams("usize"), result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_config: { parameters: [], result: "pointer" },
  openblas_get_corename: { parameters: [], result: "pointer" },
} as const;

type _Blas = Deno.DynamicLibrary<typeof _SYMBOLS>;
let _lib: _Blas | null = null;
let _original: tf.KernelConfig | null = null;

/** Library names tried in order (Debian's, then the generic soname). */
export const OPENBLAS_NAMES = [
  // Debian's pthread build first: its OpenMP build (libopenblas0-openmp) keeps a thread pool that
  // crashes the process at exit once a product has used it.
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "libopenblas.so.0",
  "libopenblas.so",
];

/** `VITLAB_OPENBLAS` names an OpenBLAS library file to load instead (a build of your own, say). */
function _libraryNames(): string[] {
  let own: string | undefined;
  try {
    own = Deno.env.get("VITLAB_OPENBLAS");
  } catch { /* no --allow-env: the usual names */ }
  return own ? [own] : OPENBLAS_NAMES;
}

/** The one command that installs OpenBLAS where blas is missing it. */
export const OPENBLAS_INSTALL = "sudo apt-get install libopenblas0-pthread";

/** OpenBLAS is not installed: blas cannot start, and installing it would fix that. */
export class BlasMissingError extends BackendError {
  override name = "BlasMissingError";
}

/** What `openBlas` reports about the library it loaded. */
export interface BlasInfo {
  /** OpenBLAS's configuration string, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH … Haswell …". */
  config: string;
  /** The kernels in use (OpenBLAS's core name), e.g. "Haswell", "Cooperlake". */
  core: string;
  /** OPENBLAS_CORETYPE when the environment sets it (it then chose the kernels). */
  forced: string | null;
  /** How many threads its products may use. */
  threads: number;
}

/**
 * Opens OpenBLAS once.
 * @returns its configuration, kernels and thread count
 * @throws {BackendError} when it cannot be loaded (not installed, or no --allow-ffi)
 */
export function openBlas(): BlasInfo {
  if (!_lib) {
    const errors: unknown[] = [];
    const names = _libraryNames();
    for (const name of names) {
      try {
        _lib = Deno.dlopen(name, _SYMBOLS);
        break;
      } catch (err) {
        errors.push(err);
      }
    }
    if (!_lib) {
      const first = errors[0];
      // Without --allow-ffi Deno refuses before looking for the library: say which it is.
      if (first instanceof Deno.errors.NotCapable || first instanceof Deno.errors.PermissionDenied) {
        throw new BackendError("backend 'blas' needs --allow-ffi to call OpenBLAS (the exp and bench tasks grant it)");
      }
      // The usual soname's error says it best ("libopenblas.so.0: cannot open shared object file").
      const usual = errors[names.indexOf("libopenblas.so.0")] ?? first;
      const why = firstLine(usual).replace(/^(Could not open library: )+/, "");
      throw new BlasMissingError(`backend 'blas': OpenBLAS is not installed (${why}); install it: ${OPENBLAS_INSTALL}`);
    }
  }
  const cstring = (ptr: Deno.PointerValue, fallback: string) =>
    ptr ? new Deno.UnsafePointerView(ptr).getCString() : fallback;
  const config = cstring(_lib.symbols.openblas_get_config(), "OpenBLAS");
  const core = cstring(_lib.symbols.openblas_get_corename(), "unknown");
  let forced: string | null = null;
  try {
    forced = Deno.env.get("OPENBLAS_CORETYPE") || null;
  } catch { /* no --allow-env: not known */ }
  // An OpenMP build's thread pool crashes the process at exit: keep such a build on one thread.
  _maxThreads ??= config.includes("USE_OPENMP") ? 1 : _lib.symbols.openblas_get_num_threads();
  return { config, core, forced, threads: _maxThreads };
}

/**
 * Says when OPENBLAS_CORETYPE holds OpenBLAS to other kernels than it would choose for this CPU.
 * An environment may set `OPENBLAS_CORETYPE=Haswell` (this development machine's did), which
 * keeps an AVX-512 CPU on AVX2 kernels; unset, OpenBLAS 0.3.21 chose its AVX-512 kernels
 * (Cooperlake) there, and vit-small's products took 13.5 ms a step instead of 23.7.
 * @param info what openBlas reported
 * @param own the kernels OpenBLAS chooses with OPENBLAS_CORETYPE unset (null: not known)
 * @returns one line of advice, or null when there is nothing to say
 */
export function blasKernelHint(info: Pick<BlasInfo, "core" | "forced">, own: string | null): string | null {
  if (!info.forced || !own || own.toLowerCase() === info.core.toLowerCase()) return null;
  return `OPENBLAS_CORETYPE=${info.forced} in the environment holds OpenBLAS to its ${info.core} kernels; ` +
    `without it OpenBLAS chooses ${own} on this CPU (env -u OPENBLAS_CORETYPE deno task …): on an AVX-512 ` +
    `CPU its AVX-512 kernels took vit-small's products from 23.7 to 13.5 ms a step, measured`;
}

/**
 * Products of fewer multiply-adds than this run on one thread, larger ones on all of OpenBLAS's
 * (`OPENBLAS_NUM_THREADS` caps them, as OpenBLAS documents). Measured alone on the idle 2-core
 * machine: 2176×64×64 took 0.187 ms on one thread and 0.163 on two, 2176×256×256 2.78 and 1.39;
 * attention's 17×17×16 products (512 a call) gain nothing, so they skip the threads' hand-off.
 * When other processes hold the cores, a two-thread product waits for one (12 ms instead of
 * 0.2 measured): give concurrent runs `OPENBLAS_NUM_THREADS=1`.
 */
export const BLAS_PARALLEL_MIN_MACS = 2 ** 22;

let _maxThreads: number | null = null;
let _threads = 0;
let _threadCap = Infinity;

/**
 * Caps the threads every product may use. Replicas training side by side each take one (a
 * two-thread product would wait for the busy core), and a run whose steps are split into
 * micro-batches always uses one, so its bytes do not depend on how many replicas computed them.
 * @param n the most threads a product may use
 */
export function capBlasThreads(n: number): void {
  _threadCap = Math.max(1, n);
}

function _setThreads(wanted: number): void {
  const n = Math.min(wanted, _threadCap);
  if (n !== _threads) {
    _lib!.symbols.openblas_set_num_threads(n);
    _threads = n;
  }
}

/** One `cblas_sgemm` call's shape, as a training step issues them (repeated `batch` times). */
export interface ProductShape {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  batch: number;
}

let _recording: ProductShape[] | null = null;

/**
 * Starts (on) or stops (off) recording the shapes of the products OpenBLAS computes.
 * @param on whether to record
 * @returns when stopping, the shapes recorded since the start
 */
export function recordProducts(on: boolean): ProductShape[] {
  const shapes = _recording ?? [];
  _recording = on ? [] : null;
  return shapes;
}

/**
 * Times a list of products alone, through the same sgemm calls and thread choice as training,
 * on random operands: the least time a step with these products can take on this machine.
 * @param shapes products to run, in order
 * @param repeats timed passes over the list after one warm-up (median reported)
 * @param threads run every product on this many threads instead of training's choice
 * @returns milliseconds per pass and the GFLOP/s they reach (2·m·n·k per product)
 */
export function timeProducts(shapes: ProductShape[], repeats = 10, threads?: number): { ms: number; gflops: number } {
  openBlas();
  const size = (r: number, c: number) => r * c;
  const maxA = Math.max(1, ...shapes.map((s) => size(s.m, s.k)));
  const maxB = Math.max(1, ...shapes.map((s) => size(s.k, s.n)));
  const maxC = Math.max(1, ...shapes.map((s) => size(s.m, s.n)));
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = fill(maxA);
  const b = fill(maxB);
  const c = new Float32Array(maxC);
  const times: number[] = [];
  for (let r = 0; r <= repeats; r++) {
    const t0 = performance.now();
    for (const s of shapes) {
      for (let i = 0; i < s.batch; i++) _sgemm(s, a, b, c, threads);
    }
    if (r > 0) times.push(performance.now() - t0);
  }
  const ms = median(times);
  const flop = shapes.reduce((t, s) => t + 2 * s.m * s.n * s.k * s.batch, 0);
  return { ms, gflops: flop / (ms / 1000) / 1e9 };
}

function _sgemm(s: ProductShape, a: Float32Array, b: Float32Array, c: Float32Array, threads?: number): void {
  _setThreads(threads ?? (s.m * s.n * s.k >= BLAS_PARALLEL_MIN_MACS ? _maxThreads! : 1));
  _lib!.symbols.cblas_sgemm(
    _ROW_MAJOR,
    s.transA ? _TRANS : _NO_TRANS,
    s.transB ? _TRANS : _NO_TRANS,
    s.m,
    s.n,
    s.k,
    1,
    a,
    s.transA ? s.m : s.k,
    b,
    s.transB ? s.k : s.n,
    0,
    c,
    s.n,
  );
}

/**
 * Sends the wasm backend's BatchMatMul to OpenBLAS (on) or back to its own kernel (off).
 * Process-wide: the wasm backend's kernels are looked up per op, so this switches at once.
 * @param on whether OpenBLAS computes products
 */
export function useBlasMatMul(on: boolean): void {
  _original ??= tf.getKernel("BatchMatMul", "wasm") ?? null;
  if (!_original) throw new BackendError("the wasm backend's BatchMatMul kernel is not registered");
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel(on ? { kernelName: "BatchMatMul", backendName: "wasm", kernelFunc: _blasBatchMatMul } : _original);
  useBlasAttention(on ? _heapSgemm : null);
  useBlasBlocks(on ? _heapProduct : null);
}

/**
 * sgemm over a wasm heap, operands as byte offsets into it, each product on the threads a
 * BatchMatMul of its size gets and its shape recorded for bench: the fused block's products are
 * the calls its BatchMatMul kernels made, so the same bytes. Call it again after the heap grows.
 */
function _heapProduct(heap: ArrayBuffer): HeapSgemm {
  const sgemm = _heapCall(heap);
  return (transA, transB, m, n, k, ...rest) => {
    _setThreads(m * n * k >= BLAS_PARALLEL_MIN_MACS ? _maxThreads! : 1);
    _recording?.push({ m, n, k, transA, transB, batch: 1 });
    sgemm(transA, transB, m, n, k, ...rest);
  };
}

/**
 * sgemm over a wasm heap, operands given as byte offsets into it, on one thread (attention's
 * products are far below {@linkcode BLAS_PARALLEL_MIN_MACS}). Call it again after the heap grows.
 */
function _heapSgemm(heap: ArrayBuffer, shapes: readonly ProductShape[]): HeapSgemm {
  const sgemm = _heapCall(heap);
  _setThreads(1);
  if (_recording) _recording.push(...shapes);
  return sgemm;
}

/** `cblas_sgemm` (row-major, C's old values ignored) over a wasm heap at byte offsets. */
function _heapCall(heap: ArrayBuffer): HeapSgemm {
  openBlas();
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(heap)));
  const f = _lib!.symbols.cblas_sgemm_at;
  const T = (t: boolean) => (t ? _TRANS : _NO_TRANS);
  return (transA, transB, m, n, k, alpha, a, lda, b, ldb, c, ldc) =>
    f(
      _ROW_MAJOR,
      T(transA),
      T(transB),
      m,
      n,
      k,
      alpha,
      base + BigInt(a),
      lda,
      base + BigInt(b),
      ldb,
      0,
      base + BigInt(c),
      ldc,
    );
}

const _ROW_MAJOR = 101;
const _NO_TRANS = 111;
const _TRANS = 112;

function _blasBatchMatMul(
  args: KernelArgs,
): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as WasmInternals;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((x, y) => x * y, 1);
  const batchB = outerB.reduce((x, y) => x * y, 1);
  // Only equal batch shapes, or one side unbatched, are needed by vitlab; defer anything else.
  const sameOuter = outerA.length === outerB.length && outerA.every((d, i) => d === outerB[i]);
  if (a.dtype !== "float32" || b.dtype !== "float32" || !(sameOuter || batchA === 1 || batchB === 1)) {
    return (_original!.kernelFunc as (x: typeof args) => tf.TensorInfo)(args);
  }
  const m = transposeA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const k = transposeA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const kb = transposeB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const n = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (k !== kb) throw new Error(`matMul: inner sizes ${k} and ${kb} of shapes [${a.shape}] and [${b.shape}] differ`);
  const batch = Math.max(batchA, batchB);
  const outer = batchA >= batchB ? outerA : outerB;
  const out = backend.makeOutput([...outer, m, n], "float32");
  // Views only after makeOutput: its allocation may grow (and move) the wasm heap.
  const av = backend.typedArrayFromHeap(a);
  const bv = backend.typedArrayFromHeap(b);
  const ov = backend.typedArrayFromHeap(out);
  if (m === 0 || n === 0) return out;
  const shape: ProductShape = { m, n, k, transA: transposeA, transB: transposeB, batch };
  _recording?.push(shape);
  for (let i = 0; i < batch; i++) {
    const aa = batchA === 1 ? av : av.subarray(i * m * k, (i + 1) * m * k);
    const bb = batchB === 1 ? bv : bv.subarray(i * k * n, (i + 1) * k * n);
    _sgemm(shape, aa, bb, ov.subarray(i * m * n, (i + 1) * m * n));
  }
  return out;
}
