/**
 * vitlab's fused SIMD kernels on tfjs's wasm backend (and so on blas): exact GELU, LayerNorm
 * (alone, or with the residual add before it), attention's core (scores, softmax, weighted values,
 * straight from the fused qkv projection), softmax's backward pass and a linear layer's bias add
 * after its product, each one pass over memory instead of a chain of tfjs kernels.
 *
 * The kernels are C compiled to WebAssembly with SIMD (`simd/kernels.c`, built by
 * `simd/build.sh`; the module ships as base64 in `simd/kernels_wasm.ts`). The module imports the
 * wasm backend's own memory, so it reads and writes tensors where tfjs keeps them: no copies.
 * Why not TypeScript: fused GELU and LayerNorm written over the heap in TypeScript lost to tfjs's
 * SIMD kernels (GELU forward+backward 15 ms against 5–10 ms at [2176, 128]); these do not.
 *
 * Which ops use them: {@linkcode hasFusedKernel} tells the model whether the active backend has
 * one; other backends keep the composite ops, with the same maths.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelArgs as _Args, KernelFn, WasmInternals as _WasmBackend } from "./kernel_types.ts";
import { KERNELS_WASM_BASE64 } from "./simd/kernels_wasm.ts";
import { ADAM_ALL_KERNEL, ADAM_KERNEL, type AdamHyper } from "./adam_update.ts";
import type { ProductShape } from "./blas.ts";

/** [y, Φ(x)]: y = GELU(x) = x·Φ(x), exact (erf) form, and Φ for the backward. Inputs `x`. */
export const GELU_KERNEL = "VitlabGelu";
/** dx = dy·GELU′(x) = dy·(Φ(x) + x·φ(x)). Inputs `x`, `phi` (the forward's Φ), `dy`. */
export const GELU_GRAD_KERNEL = "VitlabGeluGrad";
/** [y, x̂, r] of LayerNorm over the last axis of a 2-D `x`. Inputs `x`, `w`, `b`; attr `eps`. */
export const LAYER_NORM_KERNEL = "VitlabLayerNorm";
/** [dx, dw, db] of LayerNorm. Inputs `dy`, `xhat`, `r`, `w`. */
export const LAYER_NORM_GRAD_KERNEL = "VitlabLayerNormGrad";
/**
 * [s, y, stats] of a residual add and the LayerNorm after it: s = x + br, y = LayerNorm(s) over
 * the last axis (x and br of one shape, any rank), stats [rows, 2] each row's mean and 1/σ.
 * Inputs `x`, `br`, `w`, `b`; attr `eps`.
 */
export const ADD_LAYER_NORM_KERNEL = "VitlabAddLayerNorm";
/**
 * [dx, dw, db] of {@linkcode ADD_LAYER_NORM_KERNEL}: dx is both x's and br's gradient, LayerNorm's
 * input gradient plus `ds`. Inputs `dy`, `ds`, `s`, `stats`, `w`.
 */
export const ADD_LAYER_NORM_GRAD_KERNEL = "VitlabAddLayerNormGrad";
/**
 * [out, p] of attention from the fused qkv projection: qkv [B·T, 3D] → out [B·T, D] and the
 * probabilities p [B, H, T, T]. Input `qkv`; attrs `batch`, `heads`, `scale`.
 */
export const ATTENTION_KERNEL = "VitlabAttention";
/** dqkv [B·T, 3D] of {@linkcode ATTENTION_KERNEL}. Inputs `dout`, `p`, `qkv`; attrs as the forward's. */
export const ATTENTION_GRAD_KERNEL = "VitlabAttentionGrad";
/**
 * y = x·w + bias, a linear layer: the backend's own BatchMatMul, then the bias added in place.
 * Inputs `x` [M, K], `w` [K, N], `bias` [N].
 */
export const LINEAR_KERNEL = "VitlabLinear";
/** dx = y·(dy − Σ dy·y) over the last axis. Inputs `y`, `dy`. */
export const SOFTMAX_GRAD_KERNEL = "VitlabSoftmaxGrad";
/** The weights' moving average of one variable: s·d + p·(1 − d), inputs `s`, `p`, attr `decay`. */
export const EMA_KERNEL = "VitlabEmaUpdate";

/** Images, tokens, heads, head width, and the scores' scale. */
type _AttentionSizes = [b: number, t: number, h: number, hd: number, scale: number];

/** The SIMD module's exports: each takes byte offsets into the wasm heap (kernels.c says what each does). */
export type SimdExports = _Exports;

interface _Exports {
  gelu_fwd(x: number, y: number, phi: number, n: number): void;
  gelu_bwd(x: number, phi: number, dy: number, dx: number, n: number): void;
  layer_norm_fwd(
    x: number,
    w: number,
    b: number,
    y: number,
    xhat: number,
    r: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  layer_norm_bwd_x(dy: number, xhat: number, r: number, w: number, dx: number, rows: number, d: number): void;
  layer_norm_bwd_wb(dy: number, xhat: number, dw: number, db: number, rows: number, d: number, acc: number): void;
  add_layer_norm_fwd(
    x: number,
    br: number,
    w: number,
    b: number,
    s: number,
    y: number,
    stats: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  add_layer_norm_bwd(
    dy: number,
    ds: number,
    s: number,
    stats: number,
    w: number,
    dx: number,
    dw: number,
    db: number,
    rows: number,
    d: number,
    acc: number,
  ): void;
  add_bias_rows(y: number, bias: number, rows: number, n: number): void;
  layer_norm_stats_fwd(
    x: number,
    w: number,
    b: number,
    y: number,
    stats: number,
    rows: number,
    d: number,
    eps: number,
  ): void;
  scale_groups(x: number, scale: number, out: number, groups: number, n: number): void;
  add_scaled_groups(x: number, br: number, scale: number, out: number, groups: number, n: number): void;
  sum_squares(x: number, n: number, acc: number): number;
  softmax_bwd(y: number, dy: number, dx: number, rows: number, n: number): void;
  transpose_0213(x: number, y: number, b: number, i: number, j: number, k: number): void;
  sum_rows(x: number, out: number, rows: number, cols: number, acc: number): void;
  attention_fwd(qkv: number, out: number, p: number, scratch: number, ...sizes: _AttentionSizes): void;
  attention_bwd(dout: number, p: number, qkv: number, dqkv: number, scratch: number, ...sizes: _AttentionSizes): void;
  ema_update(s: number, p: number, out: number, n: number, d: number, oneMinusD: number): void;
  softmax_rows(s: number, rows: number, t: number, scale: number): void;
  attention_ds_rows(ds: number, p: number, rows: number, t: number, scale: number): void;
  adam_update(
    p: number,
    g: number,
    m: number,
    v: number,
    po: number,
    mo: number,
    vo: number,
    n: number,
    ...h: _AdamScalars
  ): void;
}

/** AdamHyper's values in the order the C kernel takes them. */
type _AdamScalars = [
  stepSize: number,
  beta1: number,
  beta2: number,
  sqrtBias2: number,
  eps: number,
  l2: number,
  decayFactor: number,
  gradScale: number,
];

let _module: WebAssembly.Module | null = null;
// One instance per wasm heap: each worker thread's tfjs has its own.
const _instances = new WeakMap<WebAssembly.Memory, _Exports>();

/**
 * The SIMD module's functions bound to a wasm backend's heap (one instance per heap).
 * @param backend the wasm backend
 * @returns the module's exports
 */
export function simdKernels(backend: unknown): SimdExports {
  return _kernels(backend as _WasmBackend);
}

function _kernels(backend: _WasmBackend): _Exports {
  const memory = backend.wasm.asm.memory;
  let k = _instances.get(memory);
  if (!k) {
    if (!_module) {
      const bytes = Uint8Array.from(atob(KERNELS_WASM_BASE64), (c) => c.charCodeAt(0));
      _module = new WebAssembly.Module(bytes);
    }
    k = new WebAssembly.Instance(_module, { env: { memory } }).exports as unknown as _Exports;
    _instances.set(memory, k);
  }
  return k;
}

/** Byte offset of a tensor's values in the wasm heap. */
function _at(backend: _WasmBackend, t: tf.TensorInfo): number {
  return backend.typedArrayFromHeap(t).byteOffset;
}

function _size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function _gelu({ inputs, backend }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const x = inputs.x as tf.TensorInfo;
  const y = be.makeOutput([...x.shape], "float32");
  const phi = be.makeOutput([...x.shape], "float32");
  _kernels(be).gelu_fwd(_at(be, x), _at(be, y), _at(be, phi), _size(x.shape));
  return [y, phi];
}

function _geluGrad({ inputs, backend }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const { x, phi, dy } = inputs as Record<"x" | "phi" | "dy", tf.TensorInfo>;
  const dx = be.makeOutput([...x.shape], "float32");
  _kernels(be).gelu_bwd(_at(be, x), _at(be, phi), _at(be, dy), _at(be, dx), _size(x.shape));
  return dx;
}

function _layerNorm({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const { x, w, b } = inputs as Record<"x" | "w" | "b", tf.TensorInfo>;
  const [rows, d] = x.shape as [number, number];
  const y = be.makeOutput([rows, d], "float32");
  const xhat = be.makeOutput([rows, d], "float32");
  const r = be.makeOutput([rows, 1], "float32");
  const eps = (attrs as { eps: number }).eps;
  _kernels(be).layer_norm_fwd(_at(be, x), _at(be, w), _at(be, b), _at(be, y), _at(be, xhat), _at(be, r), rows, d, eps);
  return [y, xhat, r];
}

function _layerNormGrad({ inputs, backend }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const { dy, xhat, r, w } = inputs as Record<"dy" | "xhat" | "r" | "w", tf.TensorInfo>;
  const [rows, d] = dy.shape as [number, number];
  const dx = be.makeOutput([rows, d], "float32");
  const dw = be.makeOutput([d], "float32");
  const db = be.makeOutput([d], "float32");
  const k = _kernels(be);
  k.layer_norm_bwd_x(_at(be, dy), _at(be, xhat), _at(be, r), _at(be, w), _at(be, dx), rows, d);
  _withScratch(
    be,
    2 * d * 8,
    (acc) => k.layer_norm_bwd_wb(_at(be, dy), _at(be, xhat), _at(be, dw), _at(be, db), rows, d, acc),
  );
  return [dx, dw, db];
}

function _addLayerNorm({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const { x, br, w, b } = inputs as Record<"x" | "br" | "w" | "b", tf.TensorInfo>;
  const d = x.shape[x.shape.length - 1]!, rows = _size(x.shape) / d;
  const s = be.makeOutput([...x.shape], "float32");
  const y = be.makeOutput([...x.shape], "float32");
  const stats = be.makeOutput([rows, 2], "float32");
  const eps = (attrs as { eps: number }).eps;
  _kernels(be).add_layer_norm_fwd(
    _at(be, x),
    _at(be, br),
    _at(be, w),
    _at(be, b),
    _at(be, s),
    _at(be, y),
    _at(be, stats),
    rows,
    d,
    eps,
  );
  return [s, y, stats];
}

function _addLayerNormGrad({ inputs, backend }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const { dy, ds, s, stats, w } = inputs as Record<"dy" | "ds" | "s" | "stats" | "w", tf.TensorInfo>;
  const d = dy.shape[dy.shape.length - 1]!, rows = _size(dy.shape) / d;
  const dx = be.makeOutput([...dy.shape], "float32");
  const dw = be.makeOutput([d], "float32");
  const db = be.makeOutput([d], "float32");
  const at = [dy, ds, s, stats, w, dx, dw, db].map((t) => _at(be, t)) as _Eight;
  _withScratch(be, 2 * d * 8, (acc) => _kernels(be).add_layer_norm_bwd(...at, rows, d, acc));
  return [dx, dw, db];
}

type _Eight = [number, number, number, number, number, number, number, number];

function _linear({ inputs, backend }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const { x, w, bias } = inputs as Record<"x" | "w" | "bias", tf.TensorInfo>;
  const product = tf.getKernel("BatchMatMul", "wasm")!.kernelFunc as (a: _Args) => tf.TensorInfo;
  const y = product({ inputs: { a: x, b: w }, attrs: { transposeA: false, transposeB: false }, backend }); // [M, N]
  const [rows, n] = y.shape as [number, number];
  _kernels(be).add_bias_rows(_at(be, y), _at(be, bias), rows, n);
  return y;
}

/**
 * Runs a kernel with `bytes` of scratch from tfjs's own allocator (the module owns no memory in
 * the heap; malloc aligns to 8 bytes at least, as float64 sums need), freed after it.
 */
function _withScratch<T>(be: _WasmBackend, bytes: number, kernel: (scratch: number) => T): T {
  const scratch = be.wasm._malloc(bytes);
  try {
    return kernel(scratch);
  } finally {
    be.wasm._free(scratch);
  }
}

function _softmaxGrad({ inputs, backend }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const { y, dy } = inputs as Record<"y" | "dy", tf.TensorInfo>;
  const n = y.shape[y.shape.length - 1]!;
  const dx = be.makeOutput([...y.shape], "float32");
  _kernels(be).softmax_bwd(_at(be, y), _at(be, dy), _at(be, dx), _size(y.shape) / n, n);
  return dx;
}

function _round4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Attention's attrs, and the sizes they imply for a qkv of [B·T, 3D]. */
function _attentionSizes(qkv: tf.TensorInfo, attrs: unknown) {
  const { batch, heads, scale } = attrs as { batch: number; heads: number; scale: number };
  const [rows, width] = qkv.shape as [number, number];
  const d = width / 3;
  return { b: batch, t: rows / batch, h: heads, hd: d / heads, d, scale };
}

function _attention({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const qkv = inputs.qkv as tf.TensorInfo;
  const { b, t, h, hd, d, scale } = _attentionSizes(qkv, attrs);
  const out = be.makeOutput([b * t, d], "float32"); // [B·T, D]
  const p = be.makeOutput([b, h, t, t], "float32"); // [B, H, T, T]
  attentionAt(be, _at(be, qkv), _at(be, out), _at(be, p), b, t, h, hd, scale);
  return [out, p];
}

/**
 * {@linkcode ATTENTION_KERNEL}'s maths over byte offsets in the wasm heap (the fused block calls
 * it between its products). It may allocate scratch, so heap views taken before it can detach.
 * @param backend the wasm backend
 * @param qkv [B·T, 3D]
 * @param out [B·T, D]
 * @param p [B, H, T, T]
 * @param sizes images, tokens, heads, head width, scale
 */
export function attentionAt(backend: unknown, qkv: number, out: number, p: number, ...sizes: _AttentionSizes): void {
  const be = backend as _WasmBackend;
  const [b, t, h, hd, scale] = sizes;
  if (_heapSgemm && t >= BLAS_ATTENTION_MIN_TOKENS) {
    _attentionBlas(be, qkv, out, p, b, t, h, hd, scale);
    return;
  }
  _withScratch(
    be,
    (hd + 2) * _round4(t) * 4,
    (scratch) => _kernels(be).attention_fwd(qkv, out, p, scratch, b, t, h, hd, scale),
  );
}

function _attentionGrad({ inputs, backend, attrs }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const { dout, p, qkv } = inputs as Record<"dout" | "p" | "qkv", tf.TensorInfo>;
  const { b, t, h, hd, scale } = _attentionSizes(qkv, attrs);
  const dqkv = be.makeOutput([...qkv.shape], "float32"); // [B·T, 3D]
  attentionGradAt(be, _at(be, dout), _at(be, p), _at(be, qkv), _at(be, dqkv), b, t, h, hd, scale);
  return dqkv;
}

/**
 * {@linkcode ATTENTION_GRAD_KERNEL}'s maths over byte offsets in the wasm heap; it allocates
 * scratch, so heap views taken before it can detach.
 * @param backend the wasm backend
 * @param dout [B·T, D]
 * @param p [B, H, T, T]
 * @param qkv [B·T, 3D]
 * @param dqkv [B·T, 3D], written
 * @param sizes images, tokens, heads, head width, scale
 */
export function attentionGradAt(
  backend: unknown,
  dout: number,
  p: number,
  qkv: number,
  dqkv: number,
  ...sizes: _AttentionSizes
): void {
  const be = backend as _WasmBackend;
  const [b, t, h, hd, scale] = sizes;
  const blas = _heapSgemm !== null && t >= BLAS_ATTENTION_MIN_TOKENS;
  _withScratch(be, (blas ? t * t : (hd + t) * _round4(t)) * 4, (scratch) => {
    const at = [dout, p, qkv, dqkv, scratch] as const;
    if (blas) _attentionGradBlas(be, at, b, t, h, hd, scale);
    else _kernels(be).attention_bwd(...at, b, t, h, hd, scale);
  });
}

/**
 * OpenBLAS's sgemm (row-major) over a wasm heap: operands are byte offsets into it,
 * C = alpha·op(A)·op(B), C's old values ignored.
 */
export type HeapSgemm = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
) => void;

let _heapSgemm: ((heap: ArrayBuffer, shapes: readonly ProductShape[]) => HeapSgemm) | null = null;

/**
 * From this many tokens up, the blas backend computes attention's products through OpenBLAS, head
 * by head, and only the softmax and its gradient here. Below it the register-blocked kernels
 * stay: at 17 tokens (vit-small) a call costs about what a head's product does, and at 33 the
 * two ways tie; at 50 (fashion-vit) OpenBLAS's AVX-512 or AVX2 kernels take the products in a
 * third of the time, and a layer, softmax included, in about 70% (docs/performance.md).
 */
export const BLAS_ATTENTION_MIN_TOKENS = 32;

/**
 * Sends attention's products to OpenBLAS (blas.ts gives its sgemm) or keeps them here (null).
 * @param sgemm binds sgemm to a heap's address, recording the products' shapes for bench
 */
export function useBlasAttention(sgemm: typeof _heapSgemm): void {
  _heapSgemm = sgemm;
}

const _F = 4; // bytes in a float32

/** The products of one attention kernel, as bench records them: each runs once per image and head. */
function _attentionShapes(fwd: boolean, bh: number, t: number, hd: number): ProductShape[] {
  const s = (m: number, n: number, k: number, transA: boolean, transB: boolean) => ({
    m,
    n,
    k,
    transA,
    transB,
    batch: bh,
  });
  return fwd
    ? [s(t, t, hd, false, true), s(t, hd, t, false, false)]
    : [s(t, t, hd, false, true), s(t, hd, t, true, false), s(t, hd, t, false, false), s(t, hd, t, true, false)];
}

// Forward, a head at a time so that its [T, T] scores stay in cache between the three passes.
// qkv [B, T, 3, H, hd] is read in place: head h's q, k, v rows are hd wide at a stride of 3D.
function _attentionBlas(be: _WasmBackend, qkv: number, out: number, p: number, ...sizes: _AttentionSizes): void {
  const [b, t, h, hd, scale] = sizes;
  const k = _kernels(be);
  const gemm = _heapSgemm!(be.wasm.asm.memory.buffer as ArrayBuffer, _attentionShapes(true, b * h, t, hd));
  const d = h * hd, row = 3 * d;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < h; j++) {
      const q = qkv + (i * t * row + j * hd) * _F;
      const ph = p + (i * h + j) * t * t * _F; // [T, T]
      gemm(false, true, t, t, hd, 1, q, row, q + d * _F, row, ph, t); // S = q·kᵀ
      k.softmax_rows(ph, t, t, scale); // P = softmax(scale·S)
      gemm(false, false, t, hd, t, 1, ph, t, q + 2 * d * _F, row, out + (i * t * d + j * hd) * _F, d); // P·v
    }
  }
}

// Backward, a head at a time: dP = dout·vᵀ, dv = Pᵀ·dout, dS = scale·P∘(dP − Σ P∘dP) in place,
// dq = dS·k, dk = dSᵀ·q; dqkv [B, T, 3, H, hd] gets every element once. scratch: [T, T].
function _attentionGradBlas(
  be: _WasmBackend,
  [dout, p, qkv, dqkv, ds]: readonly [number, number, number, number, number],
  ...sizes: _AttentionSizes
): void {
  const [b, t, h, hd, scale] = sizes;
  const k = _kernels(be);
  const gemm = _heapSgemm!(be.wasm.asm.memory.buffer as ArrayBuffer, _attentionShapes(false, b * h, t, hd));
  const d = h * hd, row = 3 * d;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < h; j++) {
      const off = (i * t * row + j * hd) * _F;
      const [q, dq] = [qkv + off, dqkv + off];
      const g = dout + (i * t * d + j * hd) * _F; // dout's head rows, stride D
      const ph = p + (i * h + j) * t * t * _F;
      gemm(false, true, t, t, hd, 1, g, d, q + 2 * d * _F, row, ds, t); // dP = dout·vᵀ
      gemm(true, false, t, hd, t, 1, ph, t, g, d, dq + 2 * d * _F, row); // dv = Pᵀ·dout
      k.attention_ds_rows(ds, ph, t, t, scale);
      gemm(false, false, t, hd, t, 1, ds, t, q + d * _F, row, dq, row); // dq = dS·k
      gemm(true, false, t, hd, t, 1, ds, t, q, row, dq + d * _F, row); // dk = dSᵀ·q
    }
  }
}

/**
 * Σ over the rows of a [rows, cols] float32 tensor into `out` ([cols] values), float64 per
 * column in row order: vitlab's leading-axes Sum (every bias gradient) on the wasm heap.
 * @param backend the wasm backend
 * @param x the tensor, read as [rows, cols]
 * @param out where the cols sums go
 * @param rows rows of x
 * @param cols columns of x
 */
export function sumRows(backend: unknown, x: tf.TensorInfo, out: tf.TensorInfo, rows: number, cols: number): void {
  const be = backend as _WasmBackend;
  _withScratch(be, cols * 8, (acc) => _kernels(be).sum_rows(_at(be, x), _at(be, out), rows, cols, acc));
}

let _originalTranspose: tf.KernelConfig | null = null;

/** Transpose [0, 2, 1, 3] of float32 (attention's heads, 8 a block, 7.6 of 73 ms a step in tfjs's kernel); anything else is tfjs's. */
function _transpose(args: _Args): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const perm = (args.attrs as { perm: number[] }).perm;
  if (x.dtype !== "float32" || x.shape.length !== 4 || perm.join() !== "0,2,1,3") {
    return (_originalTranspose!.kernelFunc as (a: _Args) => tf.TensorInfo)(args);
  }
  const be = args.backend as _WasmBackend;
  const [b, i, j, k] = x.shape as [number, number, number, number];
  const y = be.makeOutput([b, j, i, k], "float32"); // [B, J, I, K]
  _kernels(be).transpose_0213(_at(be, x), _at(be, y), b, i, j, k);
  return y;
}

/**
 * The wasm backend's Transpose, kept before {@linkcode SIMD_KERNELS} replaces it; call once, before
 * registering.
 */
export function keepOriginalTranspose(): void {
  _originalTranspose ??= tf.getKernel("Transpose", "wasm") ?? null;
}

/** {@linkcode adamUpdate}'s formula over one variable: new p, m and v. */
function _adamUpdate({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const { p, g, m, v } = inputs as Record<"p" | "g" | "m" | "v", tf.TensorInfo>;
  return _adamInto(backend as _WasmBackend, p, g, m, v, attrs as unknown as AdamHyper);
}

/** {@linkcode ADAM_ALL_KERNEL}: each variable through the same C function as {@linkcode _adamUpdate}. */
function _adamUpdateAll({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const hypers = (attrs as unknown as { hypers: AdamHyper[] }).hypers;
  const i = inputs as Record<string, tf.TensorInfo>;
  return hypers.flatMap((h, n) =>
    _adamInto(backend as _WasmBackend, i[`p${n}`]!, i[`g${n}`]!, i[`m${n}`]!, i[`v${n}`]!, h)
  );
}

function _adamInto(
  be: _WasmBackend,
  p: tf.TensorInfo,
  g: tf.TensorInfo,
  m: tf.TensorInfo,
  v: tf.TensorInfo,
  h: AdamHyper,
): tf.TensorInfo[] {
  const [po, mo, vo] = [p, m, v].map((t) => be.makeOutput([...t.shape], "float32")) as [
    tf.TensorInfo,
    tf.TensorInfo,
    tf.TensorInfo,
  ];
  _kernels(be).adam_update(
    _at(be, p),
    _at(be, g),
    _at(be, m),
    _at(be, v),
    _at(be, po),
    _at(be, mo),
    _at(be, vo),
    _size(p.shape),
    h.stepSize,
    h.beta1,
    h.beta2,
    h.sqrtBias2,
    h.eps,
    h.l2,
    h.decayFactor,
    h.gradScale,
  );
  return [po, mo, vo];
}

function _emaUpdate({ inputs, backend, attrs }: _Args): tf.TensorInfo {
  const be = backend as _WasmBackend;
  const { s, p } = inputs as Record<"s" | "p", tf.TensorInfo>;
  const d = (attrs as { decay: number }).decay;
  const out = be.makeOutput([...s.shape], "float32");
  // d and 1 − d as float32, as tf.mul's scalar operands were.
  _kernels(be).ema_update(_at(be, s), _at(be, p), _at(be, out), _size(s.shape), Math.fround(d), Math.fround(1 - d));
  return out;
}

/** The fused kernels, by name, for {@linkcode ./wasm_kernels.ts}'s registration. */
export const SIMD_KERNELS: Record<string, KernelFn> = {
  [GELU_KERNEL]: _gelu,
  [GELU_GRAD_KERNEL]: _geluGrad,
  [LAYER_NORM_KERNEL]: _layerNorm,
  [LAYER_NORM_GRAD_KERNEL]: _layerNormGrad,
  [ADD_LAYER_NORM_KERNEL]: _addLayerNorm,
  [ADD_LAYER_NORM_GRAD_KERNEL]: _addLayerNormGrad,
  [LINEAR_KERNEL]: _linear,
  [SOFTMAX_GRAD_KERNEL]: _softmaxGrad,
  [ATTENTION_KERNEL]: _attention,
  [ATTENTION_GRAD_KERNEL]: _attentionGrad,
  [ADAM_KERNEL]: _adamUpdate,
  [ADAM_ALL_KERNEL]: _adamUpdateAll,
  [EMA_KERNEL]: _emaUpdate,
  Transpose: _transpose,
};

/**
 * Whether the active backend has one of vitlab's fused kernels (the wasm and blas backends do).
 * @param name a kernel name such as {@linkcode GELU_KERNEL}
 * @returns true where the model may call it
 */
export function hasFusedKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
