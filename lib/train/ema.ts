/**
 * An exponential moving average of a model's weights (timm's ModelEmaV2): after every step,
 * ema ← d·ema + (1 − d)·w. Evaluated and checkpointed beside the weights themselves.
 */
import * as tf from "@tensorflow/tfjs-core";
import { EMA_KERNEL, hasFusedKernel } from "../backend/simd_kernels.ts";
import type { VisionTransformer } from "../model/vit.ts";

/** Shadow copies of every parameter, in vitlab's layout, keyed by timm's names. */
export class ModelEma {
  readonly decay: number;
  readonly shadow: Map<string, tf.Variable> = new Map();
  /** Parameters that never change (train.freeze): their average stays their value, bit for bit. */
  readonly #frozen: ReadonlySet<string>;

  /**
   * @param model the model to follow; the average starts at its current weights
   * @param decay d in (0, 1)
   * @param frozen names of parameters that do not train, left out of the update
   */
  constructor(model: VisionTransformer, decay: number, frozen: ReadonlySet<string> = new Set()) {
    this.decay = decay;
    this.#frozen = frozen;
    for (const p of model.params.list()) this.shadow.set(p.name, tf.variable(p.variable, false));
  }

  /** @param model the model after an optimizer step */
  update(model: VisionTransformer): void {
    const d = this.decay;
    const fused = hasFusedKernel(EMA_KERNEL);
    tf.tidy(() => {
      for (const [name, s] of this.shadow) {
        if (this.#frozen.has(name)) continue;
        const p = model.params.get(name);
        // One fused pass where the backend has it (the same float32 bytes), else three ops.
        s.assign(
          fused
            ? tf.engine().runKernel(EMA_KERNEL, { s, p }, { decay: d }) as tf.Tensor
            : tf.add(tf.mul(s, d), tf.mul(p, 1 - d)),
        );
      }
    });
  }

  /**
   * Runs `fn` with the averaged weights in the model, then puts the model's own back.
   * @param model the model
   * @param fn work to do with the average (evaluate, save)
   * @returns what fn returned
   */
  async withWeights<T>(model: VisionTransformer, fn: () => Promise<T>): Promise<T> {
    const saved = new Map<string, tf.Tensor>();
    for (const [name, s] of this.shadow) {
      const p = model.params.get(name);
      saved.set(name, tf.clone(p));
      p.assign(s);
    }
    try {
      return await fn();
    } finally {
      for (const [name, t] of saved) {
        model.params.get(name).assign(t);
        t.dispose();
      }
    }
  }

  /**
   * @param values timm name → values in vitlab's layout (from a state file)
   */
  load(values: Map<string, tf.Tensor>): void {
    for (const [name, t] of values) this.shadow.get(name)?.assign(t);
  }

  /** Frees the shadow weights. */
  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
