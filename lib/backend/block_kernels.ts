/**
 * A whole pre-norm transformer block as one kernel each way on the blas backend: LayerNorm, the
 * qkv product, attention, the projection, drop-path, the residual add, LayerNorm, the MLP and its
 * GELU, drop-path and the last add, and backward every gradient of them.
 *
 * Why: a block of vit-small ran ~100 tfjs kernels a micro-batch, forward and backward, and each
 * costs the engine 5–10 µs besides its work (the tape, the saved tensors' clones, the scopes):
 * ~7.8 ms of fixed cost a micro-batch, a fifth of vit-small's step, measured as the step time at
 * one image a micro-batch. Inside these two kernels the same SIMD functions and sgemm calls run
 * on the same operands in the same order as the kernels they replace (`simd_kernels.ts`,
 * `blas.ts`), so the bytes are those of the unfused block (tests/block_fused_test.ts).
 *
 * Inputs are the block's input stream x [B·T, D] (any shape ending in D) and its parameters;
 * the forward returns [y, ws]: the output stream and one workspace tensor holding what the
 * backward reads (LayerNorm outputs and statistics, qkv, the probabilities, the attention's
 * output, the MLP's activations), so the tape saves two tensors a block instead of ~20.
 */
import * as tf from "@tensorflow/tfjs-core";
import type { KernelArgs as _Args, WasmInternals as _WasmBackend } from "./kernel_types.ts";
import { attentionAt, attentionGradAt, type HeapSgemm, simdKernels } from "./simd_kernels.ts";

/** [y, ws] of a block. Inputs as {@linkcode BLOCK_PARAM_NAMES} after `x`; attrs {@linkcode BlockAttrs}. */
export const BLOCK_KERNEL = "VitlabBlock";
/**
 * The block's gradients: [dx, then one per parameter in {@linkcode BLOCK_PARAM_NAMES} order
 * (qkvb's only when given)]. Inputs `dy`, `x`, `ws` and the weights; attrs as the forward's.
 */
export const BLOCK_GRAD_KERNEL = "VitlabBlockGrad";

/** The block's parameters as the kernels name them, in the order of its gradients. */
export const BLOCK_PARAM_NAMES = [
  "n1w",
  "n1b",
  "qkvw",
  "qkvb",
  "projw",
  "projb",
  "n2w",
  "n2b",
  "fc1w",
  "fc1b",
  "fc2w",
  "fc2b",
] as const;

/** One of {@linkcode BLOCK_PARAM_NAMES}. */
export type BlockParamName = typeof BLOCK_PARAM_NAMES[number];

/** What a block kernel needs besides its tensors. */
export interface BlockAttrs {
  /** Images in the batch (rows are images × tokens). */
  batch: number;
  /** Attention heads. */
  heads: number;
  /** The scores' scale, 1/√(head width). */
  scale: number;
  /** The two LayerNorms' epsilons. */
  eps1: number;
  eps2: number;
  /** Drop-path multipliers per image of the attention branch and of the MLP branch (null: none). */
  dp1: Float32Array | null;
  dp2: Float32Array | null;
}

let _gemm: ((heap: ArrayBuffer) => HeapSgemm) | null = null;
let _enabled = true;

/**
 * Registers the block kernels on the wasm backend with OpenBLAS's sgemm for their products (blas
 * backend), or removes them (null).
 * @param gemm binds sgemm to a heap's address
 */
export function useBlasBlocks(gemm: typeof _gemm): void {
  _gemm = gemm;
  for (const [name, fn] of [[BLOCK_KERNEL, _block], [BLOCK_GRAD_KERNEL, _blockGrad]] as const) {
    if (tf.getKernel(name, "wasm")) tf.unregisterKernel(name, "wasm");
    if (gemm) tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc: fn as tf.KernelFunc });
  }
}

/**
 * Turns the fused block off (false) or back on, for comparing it with the unfused one; it is on
 * by default wherever the blas backend is active.
 * @param on whether the model may use the fused block
 */
export function enableFusedBlocks(on: boolean): void {
  _enabled = on;
}

/**
 * Whether the model may run its blocks through {@linkcode BLOCK_KERNEL} now.
 * @returns true on the blas backend unless turned off
 */
export function fusedBlocksAvailable(): boolean {
  return _enabled && tf.getKernel(BLOCK_KERNEL, tf.getBackend()) !== undefined;
}

const _F = 4; // bytes in a float32

/** The workspace's parts, offsets in floats: each as the unfused block saved it. */
function _layout(rows: number, d: number, hid: number, b: number, h: number, t: number) {
  const parts = {
    h: rows * d, // norm1's output [R, D]
    qkv: rows * 3 * d, // [R, 3D]
    p: b * h * t * t, // attention's probabilities [B, H, T, T]
    att: rows * d, // attention's output, heads merged [R, D]
    x1: rows * d, // the stream after the attention branch [R, D]
    h2: rows * d, // norm2's output [R, D]
    u: rows * hid, // fc1's output [R, hidden]
    phi: rows * hid, // Φ(u), for GELU's gradient [R, hidden]
    g: rows * hid, // GELU(u) [R, hidden]
    s1: rows * 2, // norm1's (μ, r) per row
    s2: rows * 2, // norm2's
  };
  return _offsets(parts);
}

/** Parts laid back to back: each one's offset in floats, and the floats in all. */
function _offsets<K extends string>(parts: Record<K, number>): { off: Record<K, number>; total: number } {
  let total = 0;
  const off = {} as Record<K, number>;
  for (const [k, n] of Object.entries(parts) as [K, number][]) {
    off[k] = total;
    total += n;
  }
  return { off, total };
}

/** Byte offsets in the heap of parts at float offsets from `base`. */
function _bytes<K extends string>(base: number, off: Record<K, number>): Record<K, number> {
  return Object.fromEntries(Object.entries(off).map(([k, v]) => [k, base + (v as number) * _F])) as Record<K, number>;
}

/** A tensor's byte offset in the heap (0 for one not given). */
function _heapAt(be: _WasmBackend): (t: tf.TensorInfo | undefined) => number {
  return (t) => (t ? be.typedArrayFromHeap(t).byteOffset : 0);
}

function _sizes(x: tf.TensorInfo, fc1w: tf.TensorInfo, a: BlockAttrs) {
  const d = x.shape[x.shape.length - 1]!;
  const rows = x.shape.reduce((p, n) => p * n, 1) / d;
  const hid = fc1w.shape[1]!;
  const b = a.batch, h = a.heads, t = rows / b;
  return { d, rows, hid, b, h, t, hd: d / h };
}

/** Heap memory of the kernel's own, freed after it: the drop-path multipliers and scratch. */
function _scratch(be: _WasmBackend, floats: number, masks: (Float32Array | null)[]) {
  const blocks: number[] = [];
  const alloc = (n: number) => {
    const at = be.wasm._malloc(Math.max(1, n) * _F);
    blocks.push(at);
    return at;
  };
  const mask = (m: Float32Array | null) => {
    if (!m) return 0;
    const at = alloc(m.length);
    new Float32Array(be.wasm.asm.memory.buffer, at, m.length).set(m);
    return at;
  };
  const work = alloc(floats);
  const [m1, m2] = masks.map(mask) as [number, number];
  return { work, m1, m2, alloc, free: () => blocks.forEach((at) => be.wasm._free(at)) };
}

function _block({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const i = inputs as Record<"x" | BlockParamName, tf.TensorInfo>;
  const a = attrs as unknown as BlockAttrs;
  const { d, rows, hid, b, h, t, hd } = _sizes(i.x, i.fc1w, a);
  const { off, total } = _layout(rows, d, hid, b, h, t);
  const y = be.makeOutput([...i.x.shape], "float32");
  const ws = be.makeOutput([total], "float32");
  const scratch = _scratch(be, 0, [a.dp1, a.dp2]);
  try {
    // Offsets only after every allocation (one may grow the heap; offsets stay valid).
    const at = _heapAt(be);
    const o = _bytes(at(ws), off);
    const [x, Y] = [at(i.x), at(y)];
    const k = simdKernels(be);
    const gemm = () => _gemm!(be.wasm.asm.memory.buffer as ArrayBuffer);
    k.layer_norm_stats_fwd(x, at(i.n1w), at(i.n1b), o.h, o.s1, rows, d, a.eps1); // h [R, D]
    gemm()(false, false, rows, 3 * d, d, 1, o.h, d, at(i.qkvw), 3 * d, o.qkv, 3 * d); // qkv [R, 3D]
    if (i.qkvb) k.add_bias_rows(o.qkv, at(i.qkvb), rows, 3 * d);
    attentionAt(be, o.qkv, o.att, o.p, b, t, h, hd, a.scale); // att [R, D], p [B, H, T, T]
    // The projection lands where x1 will be: scaled by drop-path and added to x in place.
    gemm()(false, false, rows, d, d, 1, o.att, d, at(i.projw), d, o.x1, d);
    k.add_bias_rows(o.x1, at(i.projb), rows, d);
    if (a.dp1) k.scale_groups(o.x1, scratch.m1, o.x1, b, t * d);
    k.add_layer_norm_fwd(x, o.x1, at(i.n2w), at(i.n2b), o.x1, o.h2, o.s2, rows, d, a.eps2); // x1, h2 [R, D]
    gemm()(false, false, rows, hid, d, 1, o.h2, d, at(i.fc1w), hid, o.u, hid); // u [R, hidden]
    k.add_bias_rows(o.u, at(i.fc1b), rows, hid);
    k.gelu_fwd(o.u, o.g, o.phi, rows * hid);
    gemm()(false, false, rows, d, hid, 1, o.g, hid, at(i.fc2w), d, Y, d); // the MLP's output [R, D]
    k.add_bias_rows(Y, at(i.fc2b), rows, d);
    k.add_scaled_groups(o.x1, Y, scratch.m2, Y, b, t * d); // y = x1 + drop-path(mlp)
  } finally {
    scratch.free();
  }
  return [y, ws];
}

function _blockGrad({ inputs, backend, attrs }: _Args): tf.TensorInfo[] {
  const be = backend as _WasmBackend;
  const i = inputs as Record<"dy" | "x" | "ws" | BlockParamName, tf.TensorInfo>;
  const a = attrs as unknown as BlockAttrs & { qkvBias: boolean };
  const { d, rows, hid, b, h, t, hd } = _sizes(i.x, i.fc1w, a);
  const { off } = _layout(rows, d, hid, b, h, t);
  const out = (shape: readonly number[]) => be.makeOutput([...shape], "float32");
  const dx = out(i.x.shape);
  const names = BLOCK_PARAM_NAMES.filter((n) => n !== "qkvb" || a.qkvBias);
  const shapes: Record<BlockParamName, readonly number[]> = {
    n1w: [d],
    n1b: [d],
    qkvw: [d, 3 * d],
    qkvb: [3 * d],
    projw: [d, d],
    projb: [d],
    n2w: [d],
    n2b: [d],
    fc1w: [d, hid],
    fc1b: [hid],
    fc2w: [hid, d],
    fc2b: [d],
  };
  const grads = Object.fromEntries(names.map((n) => [n, out(shapes[n])])) as Record<BlockParamName, tf.TensorInfo>;
  // Scratch: dm, dg (then du in place), dh2, dx1, da, datt [R, D] or [R, hidden], dqkv [R, 3D], dh.
  const rd = rows * d;
  const work = _offsets({ dm: rd, dg: rows * hid, dh2: rd, dx1: rd, da: rd, datt: rd, dqkv: 3 * rd, dh: rd });
  const scratch = _scratch(be, work.total, [a.dp1, a.dp2]);
  // float64 column sums (8-byte aligned, as malloc gives): sum_rows' and LayerNorm's.
  const acc = scratch.alloc(2 * Math.max(3 * d, hid, 2 * d));
  try {
    const at = _heapAt(be);
    const o = _bytes(at(i.ws), off);
    const s = _bytes(scratch.work, work.off);
    const [x, dy, DX] = [at(i.x), at(i.dy), at(dx)];
    const gd = (n: BlockParamName) => at(grads[n]);
    const k = simdKernels(be);
    const gemm = () => _gemm!(be.wasm.asm.memory.buffer as ArrayBuffer);
    const sumRows = (src: number, dst: number, cols: number) => k.sum_rows(src, dst, rows, cols, acc);
    // The MLP branch: dm = drop-path(dy), through fc2, GELU and fc1 (the Linear gradients' calls).
    const dm = a.dp2 ? s.dm : dy;
    if (a.dp2) k.scale_groups(dy, scratch.m2, s.dm, b, t * d);
    gemm()(true, false, hid, d, rows, 1, o.g, hid, dm, d, gd("fc2w"), d); // dW2 = gᵀ·dm [hidden, D]
    sumRows(dm, gd("fc2b"), d);
    gemm()(false, true, rows, hid, d, 1, dm, d, at(i.fc2w), d, s.dg, hid); // dg = dm·W2ᵀ [R, hidden]
    k.gelu_bwd(o.u, o.phi, s.dg, s.dg, rows * hid); // du, in place
    gemm()(true, false, d, hid, rows, 1, o.h2, d, s.dg, hid, gd("fc1w"), hid); // dW1 = h2ᵀ·du [D, hidden]
    sumRows(s.dg, gd("fc1b"), hid);
    gemm()(false, true, rows, d, hid, 1, s.dg, hid, at(i.fc1w), hid, s.dh2, d); // dh2 = du·W1ᵀ [R, D]
    // x1's gradient: norm2's plus the stream's (dy).
    k.add_layer_norm_bwd(s.dh2, dy, o.x1, o.s2, at(i.n2w), s.dx1, gd("n2w"), gd("n2b"), rows, d, acc);
    // The attention branch: da = drop-path(dx1), through the projection, attention and qkv.
    const da = a.dp1 ? s.da : s.dx1;
    if (a.dp1) k.scale_groups(s.dx1, scratch.m1, s.da, b, t * d);
    gemm()(true, false, d, d, rows, 1, o.att, d, da, d, gd("projw"), d); // dWproj = attᵀ·da [D, D]
    sumRows(da, gd("projb"), d);
    gemm()(false, true, rows, d, d, 1, da, d, at(i.projw), d, s.datt, d); // datt = da·Wprojᵀ [R, D]
    attentionGradAt(be, s.datt, o.p, o.qkv, s.dqkv, b, t, h, hd, a.scale); // dqkv [R, 3D]
    gemm()(true, false, d, 3 * d, rows, 1, o.h, d, s.dqkv, 3 * d, gd("qkvw"), 3 * d); // dWqkv = hᵀ·dqkv
    if (a.qkvBias) sumRows(s.dqkv, gd("qkvb"), 3 * d);
    gemm()(false, true, rows, d, 3 * d, 1, s.dqkv, 3 * d, at(i.qkvw), 3 * d, s.dh, d); // dh = dqkv·Wqkvᵀ [R, D]
    // x's gradient: norm1's plus x1's (the residual).
    k.add_layer_norm_bwd(s.dh, s.dx1, x, o.s1, at(i.n1w), DX, gd("n1w"), gd("n1b"), rows, d, acc);
  } finally {
    scratch.free();
  }
  return [dx, ...names.map((n) => grads[n])];
}
