/** LayerNorm over the last axis, eps 1e-6 as timm's ViT (tfjs-layers defaults to 1e-3). */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADD_LAYER_NORM_GRAD_KERNEL,
  ADD_LAYER_NORM_KERNEL,
  hasFusedKernel,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
} from "../backend/simd_kernels.ts";
import type { Rng } from "../random.ts";
import type { ParamStore } from "./params.ts";

/** Normalises the last axis, then scales and shifts. */
export class LayerNorm {
  /** `{name}.weight`, [dim]: the scale, initialised to ones. */
  readonly weight: tf.Variable;
  /** `{name}.bias`, [dim]: the shift, initialised to zeros. */
  readonly bias: tf.Variable;
  /** Added to the variance before the square root. */
  readonly eps: number;

  /**
   * Declares `{name}.weight` and `{name}.bias`.
   * @param store where the parameters live
   * @param rng the `init` stream (unused by ones/zeros, kept for a uniform constructor)
   * @param name timm's module name, e.g. `blocks.0.norm1`
   * @param dim width of the last axis
   * @param eps variance epsilon
   */
  constructor(store: ParamStore, rng: Rng, name: string, dim: number, eps = 1e-6) {
    this.weight = store.add({
      name: `${name}.weight`,
      timmShape: [dim],
      layout: "same",
      init: { kind: "ones" },
      decay: false,
    }, rng);
    this.bias = store.add({
      name: `${name}.bias`,
      timmShape: [dim],
      layout: "same",
      init: { kind: "zeros" },
      decay: false,
    }, rng);
    this.eps = eps;
  }

  /**
   * Normalises each vector along the last axis.
   * @param x [..., dim]
   * @returns same shape
   */
  apply<T extends tf.Tensor>(x: T): T {
    const d = x.shape[x.rank - 1]!;
    const flat = tf.reshape(x, [-1, d]) as tf.Tensor2D; // [M, D]
    const norm = hasFusedKernel(LAYER_NORM_KERNEL) ? _layerNormFused(this.eps) : _layerNorm(this.eps);
    return tf.reshape(norm(flat, this.weight, this.bias), x.shape) as T; // [..., D]
  }

  /**
   * A pre-norm block's residual add and this norm after it: one pass on the wasm and blas
   * backends (the add, the norm, and backward the sum of the stream's two gradients), the same
   * bytes as `tf.add` then {@linkcode apply} everywhere.
   * @param x [..., dim] the residual stream
   * @param branch same shape: what a branch adds to it
   * @returns [x + branch, its norm], both x's shape
   */
  applyResidual<T extends tf.Tensor>(x: T, branch: T): [T, T] {
    if (!hasFusedKernel(ADD_LAYER_NORM_KERNEL)) {
      const s = tf.add(x, branch) as T;
      return [s, this.apply(s)];
    }
    const [s, y] = tf.engine().runKernel(
      ADD_LAYER_NORM_KERNEL,
      { x, br: branch, w: this.weight, b: this.bias },
      { eps: this.eps },
    ) as tf.Tensor[]; // x's shape twice (and the rows' stats, [M, 2], for the gradient)
    return [s as T, y as T];
  }
}

// The fused add's gradient: the stream's gradient ds (from the layers after s) and the norm's dy
// meet in one kernel. x and br get the same dx: br's as a reshape, so that the two gradients are
// separate tensors sharing one buffer (the tape frees each on its own).
tf.registerGradient({
  kernelName: ADD_LAYER_NORM_KERNEL,
  inputsToSave: ["w"],
  outputsToSave: [true, false, true],
  gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const [ds, dy] = dys as tf.Tensor[];
    const [w, s, stats] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
    const [dx, dw, db] = tf.engine().runKernel(ADD_LAYER_NORM_GRAD_KERNEL, {
      dy: dy!,
      ds: ds!,
      s,
      stats,
      w,
    }) as tf.Tensor[]; // x's shape, [D], [D]
    return { x: () => dx!, br: () => tf.reshape(dx!, dx!.shape), w: () => dw!, b: () => db! };
  },
});

type _Norm = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;
const _cache = new Map<number, _Norm>();
const _fusedCache = new Map<number, _Norm>();

/**
 * {@linkcode _layerNorm}'s maths as two fused SIMD kernels (wasm and blas): one forward, one
 * backward, instead of ~9 and ~11 tfjs kernels.
 */
function _layerNormFused(eps: number): _Norm {
  let fn = _fusedCache.get(eps);
  if (!fn) {
    const grad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const [y, xhat, r] = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, w, b }, { eps }) as tf.Tensor[]; // [M, D], [M, D], [M, 1]
      save([xhat!, r!, w]);
      return {
        value: y!,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xh, sr, sw] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { dy, xhat: xh, r: sr, w: sw }) as tf.Tensor[];
        },
      };
    });
    fn = grad as unknown as _Norm;
    _fusedCache.set(eps, fn);
  }
  return fn;
}

/**
 * LayerNorm over rows with its gradient written out, since autodiff through tf.moments emits
 * about twice the kernels (LayerNorm is elementwise work the wasm backend runs on one thread):
 *   x̂ = (x − μ)·r, r = 1/√(σ² + eps), y = x̂·w + b
 *   ∂b = Σ_rows dy, ∂w = Σ_rows dy·x̂, ∂x = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w
 */
function _layerNorm(eps: number): _Norm {
  let fn = _cache.get(eps);
  if (!fn) {
    const grad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, w, b, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const mean = tf.mean(x, 1, true); // [M, 1]
      const centered = tf.sub(x, mean); // [M, D]
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), eps)); // [M, 1]
      const xhat = tf.mul(centered, r); // [M, D]
      save([xhat, r, w]);
      return {
        value: tf.add(tf.mul(xhat, w), b),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sx, sr, sw] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
          const g = tf.mul(dy, sw); // [M, D]
          const meanG = tf.mean(g, 1, true); // [M, 1]
          const meanGx = tf.mean(tf.mul(g, sx), 1, true); // [M, 1]
          const dx = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(sx, meanGx)), sr); // [M, D]
          return [dx, tf.sum(tf.mul(dy, sx), 0), tf.sum(dy, 0)];
        },
      };
    });
    fn = grad as unknown as _Norm;
    _cache.set(eps, fn);
  }
  return fn;
}
