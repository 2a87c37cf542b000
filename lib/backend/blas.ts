/**
 * The `blas` backend: tfjs's wasm backend with matrix products sent to OpenBLAS through Deno's
 * FFI (Debian's libopenblas0-pthread), on every core.
 *
 * Why: the wasm backend's batched or transposed products (attention, and gradients) fall onto
 * a naive single-threaded loop, and its XNNPACK path uses one thread. OpenBLAS takes transpose
 * flags and batches natively and uses every core: measured on vit-small, a step took 260 ms
 * with flag-free products left on XNNPACK and 183 ms with every product on OpenBLAS. Operands stay in the wasm heap: sgemm reads and writes it in
 * place, so nothing is copied. Every other op is the wasm backend's own kernel.
 */
import * as tf from "@tensorflow/tfjs-core";
import { BackendError } from "../errors.ts";
import { setTransposeFree } from "./matmul.ts";

const _SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_get_config: { parameters: [], result: "pointer" },
} as const;

type _Blas = Deno.DynamicLibrary<typeof _SYMBOLS>;
let _lib: _Blas | null = null;
let _original: tf.KernelConfig | null = null;

/** Library names tried in order (Debian's, then the generic soname). */
export const OPENBLAS_NAMES = ["libopenblas.so.0", "libopenblas.so"];

/**
 * Opens OpenBLAS once.
 * @returns its configuration string and thread count
 * @throws {BackendError} when it cannot be loaded (not installed, or no --allow-ffi)
 */
export function openBlas(): { config: string; threads: number } {
  if (!_lib) {
    const errors: string[] = [];
    for (const name of OPENBLAS_NAMES) {
      try {
        _lib = Deno.dlopen(name, _SYMBOLS);
        break;
      } catch (err) {
        errors.push((err as Error).message.split("\n")[0]!);
      }
    }
    if (!_lib) {
      throw new BackendError(
        `backend 'blas' needs OpenBLAS (apt-get install libopenblas0-pthread) and --allow-ffi: ${errors[0]}`,
      );
    }
  }
  const ptr = _lib.symbols.openblas_get_config();
  const config = ptr ? new Deno.UnsafePointerView(ptr).getCString() : "OpenBLAS";
  return { config, threads: _lib.symbols.openblas_get_num_threads() };
}

/**
 * Sends the wasm backend's BatchMatMul to OpenBLAS (on) or back to its own kernel (off).
 * Process-wide: the wasm backend's kernels are looked up per op, so this switches at once.
 * @param on whether OpenBLAS computes products
 */
export function useBlasMatMul(on: boolean): void {
  setTransposeFree(on);
  _original ??= tf.getKernel("BatchMatMul", "wasm") ?? null;
  if (!_original) throw new BackendError("the wasm backend's BatchMatMul kernel is not registered");
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel(on ? { kernelName: "BatchMatMul", backendName: "wasm", kernelFunc: _blasBatchMatMul } : _original);
}

interface _WasmBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

const _ROW_MAJOR = 101;
const _NO_TRANS = 111;
const _TRANS = 112;

function _blasBatchMatMul(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as _WasmBackend;
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
  const sgemm = _lib!.symbols.cblas_sgemm;
  const ta = transposeA ? _TRANS : _NO_TRANS;
  const tb = transposeB ? _TRANS : _NO_TRANS;
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  if (m === 0 || n === 0) return out;
  for (let i = 0; i < batch; i++) {
    const aa = batchA === 1 ? av : av.subarray(i * m * k, (i + 1) * m * k);
    const bb = batchB === 1 ? bv : bv.subarray(i * k * n, (i + 1) * k * n);
    sgemm(_ROW_MAJOR, ta, tb, m, n, k, 1, aa, lda, bb, ldb, 0, ov.subarray(i * m * n, (i + 1) * m * n), n);
  }
  return out;
}
