/**
 * Kernels vitlab replaces in, or adds to, tfjs's wasm backend, written in TypeScript over the
 * wasm heap as the OpenBLAS products are. Each was measured on vit-small's training step
 * (batch 128, tf.profile and a timed step):
 * - `Identity` copies its input on wasm, and tfjs's tape clones every tensor a gradient saves,
 *   so a step made ~400 full copies of activations (11% of its kernel time). Here it shares the
 *   buffer, as `Reshape` already does on wasm and `Identity` does on the cpu backend; tfjs
 *   tensors are immutable, so nothing can write through a shared buffer. `Cast` to a tensor's
 *   own dtype (every Mul gradient casts its other input to float32) copied too, and now shares.
 * - `Sum` over leading axes (every bias and LayerNorm gradient) transposed before it reduced
 *   (most of the 11% of kernel time `Sum` took). Here it adds rows in place in a fixed order
 *   (a SIMD kernel from {@linkcode ./simd_kernels.ts} since; 4.5 → ~1 ms a step).
 * - The Adam(W) update ({@linkcode ./adam_update.ts}) and the sum of squares behind the global
 *   gradient norm ({@linkcode ./sum_squares.ts}) are one kernel each instead of ~13 and 2 per
 *   variable: the optimizer went from 16 to 1.7 ms a step. The update is a SIMD kernel from
 *   {@linkcode ./simd_kernels.ts} since (the same bytes; vit-small's 80 updates 1.2 → 0.8 ms).
 * - A replica's gradients are added to this thread's by one kernel over their packed buffer
 *   ({@linkcode ./add_packed.ts}) instead of an upload and an `Add` per variable.
 * - `Slice` and `SplitV` copied one innermost row at a time (1,024 copies of 64 values to take
 *   the patch tokens out of vit-small's [64, 17, 64] micro-batch, and again for the class
 *   token's gradient: 1.65 ms a step). Here each copy is the longest run the slice keeps
 *   whole (64 copies of 1,024 values), the same values.
 * Sums accumulate in float64 and round once to float32, in a fixed order, so reruns stay
 * bit-identical. GELU, LayerNorm and softmax's backward are fused SIMD kernels compiled from C
 * ({@linkcode ./simd_kernels.ts}): written in TypeScript they lost to tfjs's own SIMD kernels.
 */
import * as tf from "@tensorflow/tfjs-core";
import { keepOriginalTranspose, SIMD_KERNELS, simdKernels, sumRows } from "./simd_kernels.ts";
import type { KernelArgs as _Args, KernelFn as _KernelFunc, WasmInternals as _WasmBackend } from "./kernel_types.ts";
import { SUM_SQUARES_KERNEL } from "./sum_squares.ts";
import { ADD_PACKED_KERNEL } from "./add_packed.ts";

let _originalSum: tf.KernelConfig | null = null;
let _originalSlice: tf.KernelConfig | null = null;
let _originalCast: tf.KernelConfig | null = null;

/**
 * Registers vitlab's wasm kernels; idempotent. Call after the wasm backend is active.
 */
export function registerWasmKernels(): void {
  if (_originalSum) return;
  _replace("Identity", _identity);
  _originalCast = tf.getKernel("Cast", "wasm") ?? null;
  _replace("Cast", _cast);
  _originalSlice = tf.getKernel("Slice", "wasm") ?? null;
  _replace("Slice", _slice);
  _replace("SplitV", _splitV);
  _originalSum = tf.getKernel("Sum", "wasm") ?? null;
  _replace("Sum", _sum);
  _replace(SUM_SQUARES_KERNEL, _sumOfSquares);
  _replace(ADD_PACKED_KERNEL, _addPacked);
  keepOriginalTranspose();
  for (const [name, fn] of Object.entries(SIMD_KERNELS)) _replace(name, fn);
}

function _replace(name: string, fn: _KernelFunc): void {
  if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: fn as tf.KernelFunc });
}

function _identity({ inputs, backend }: _Args): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  (backend as _WasmBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/** A cast to the dtype a tensor already has (every Mul gradient casts to float32) shares it too. */
function _cast(args: _Args): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if ((args.attrs as { dtype: string }).dtype === x.dtype) return _identity(args);
  return (_originalCast!.kernelFunc as _KernelFunc)(args) as tf.TensorInfo;
}

/**
 * A slice of a numeric tensor copied as runs: the dims after the last one the slice cuts are
 * whole, so each run is that dim's kept length times their size, one `set` per run.
 */
function _slice(args: _Args): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  if (x.dtype === "string") return (_originalSlice!.kernelFunc as _KernelFunc)(args) as tf.TensorInfo;
  const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
  const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
  return _sliceRuns(args.backend as _WasmBackend, x, b!, s!);
}

function _sliceRuns(be: _WasmBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const shape = x.shape;
  const rank = shape.length;
  const out = be.makeOutput([...size], x.dtype as "float32");
  if (size.some((n) => n === 0)) return out;
  // p: the last dim the slice cuts; every dim after it is whole.
  let p = rank - 1;
  while (p > 0 && begin[p] === 0 && size[p] === shape[p]) p--;
  const strides = tf.util.computeStrides(shape as number[]);
  const inner = p + 1 < rank ? strides[p]! : 1; // elements per step of dim p
  const run = size[p]! * inner;
  const xv = be.typedArrayFromHeap(x);
  const ov = be.typedArrayFromHeap(out);
  // Odometer over dims 0..p-1, each within its slice.
  const at = begin.slice(0, p);
  let o = 0;
  for (;;) {
    let from = begin[p]! * inner;
    for (let d = 0; d < p; d++) from += at[d]! * strides[d]!;
    ov.set(xv.subarray(from, from + run), o);
    o += run;
    let d = p - 1;
    for (; d >= 0; d--) {
      if (++at[d]! < begin[d]! + size[d]!) break;
      at[d] = begin[d]!;
    }
    if (d < 0) return out;
  }
}

/** SplitV as slices along one axis, each copied as runs ({@linkcode _slice}). */
function _splitV(args: _Args): tf.TensorInfo[] {
  const x = args.inputs.x as tf.TensorInfo;
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number | number[] };
  const a = tf.util.parseAxisParam(axis, x.shape as number[])[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, a);
  const begin = x.shape.map(() => 0);
  return sizes.map((n) => {
    const size = [...x.shape];
    size[a] = n;
    const part = _sliceRuns(args.backend as _WasmBackend, x, [...begin], size);
    begin[a]! += n;
    return part;
  });
}

/** Sum over a leading run of axes ([0], [0, 1], ...) of a float32 tensor; anything else is tfjs's. */
function _sum(args: _Args): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = [...new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)))].sort((a, b) =>
    a - b
  );
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== "float32" || !leading) {
    return (_originalSum!.kernelFunc as _KernelFunc)(args) as tf.TensorInfo;
  }
  const backend = args.backend as _WasmBackend;
  const rows = x.shape.slice(0, axes.length).reduce((p, d) => p * d, 1);
  const rest = x.shape.slice(axes.length);
  const cols = rest.reduce((p, d) => p * d, 1);
  const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...rest] : rest, "float32");
  sumRows(backend, x, out, rows, cols);
  return out;
}

/** Σ x² over every input, in input order, in float64 (a scalar C loop: the bytes of a JavaScript one). */
function _sumOfSquares({ inputs, backend }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const list = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k] as tf.TensorInfo);
  const out = be.makeOutput([], "float32");
  const k = simdKernels(be);
  let total = 0;
  for (const t of list) {
    const xv = be.typedArrayFromHeap(t);
    total = k.sum_squares(xv.byteOffset, xv.length, total);
  }
  be.typedArrayFromHeap(out)[0] = total;
  return out;
}

/** inputs[i] + its run of the packed attr, each a float32 add (the bytes of `Add`). */
function _addPacked({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const packed = (attrs as unknown as { packed: Float32Array }).packed;
  const list = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k] as tf.TensorInfo);
  const outs = list.map((t) => be.makeOutput([...t.shape], "float32"));
  // The addends copied into the heap once, then added by SIMD runs; views only after every
  // allocation (one can grow the heap and detach older views).
  const scratch = be.wasm._malloc(Math.max(1, packed.length) * 4);
  try {
    new Float32Array(be.wasm.asm.memory.buffer, scratch, packed.length).set(packed);
    const k = simdKernels(be);
    let offset = 0;
    list.forEach((t, i) => {
      const xv = be.typedArrayFromHeap(t);
      k.add_scaled_groups(
        xv.byteOffset,
        scratch + offset * 4,
        0,
        be.typedArrayFromHeap(outs[i]!).byteOffset,
        1,
        xv.length,
      );
      offset += xv.length;
    });
  } finally {
    be.wasm._free(scratch);
  }
  return outs;
}
