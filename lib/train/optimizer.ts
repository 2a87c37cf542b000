/**
 * AdamW, Adam and SGD with torch.optim's exact update rules, over a model's {@linkcode Param}s.
 *
 * tfjs ships no AdamW. One class covers the three so that state layout, weight-decay masking
 * and checkpointing of moments are written once. Each parameter carries its own decay flag and
 * its timm name, which keys the moments in checkpoints.
 */
import * as tf from "@tensorflow/tfjs-core";
import { type AdamItem, adamUpdateAll } from "../backend/adam_update.ts";
import type { Config } from "../config/schema.ts";
import type { Param } from "../model/params.ts";
import { layerDecayScales } from "./layer_decay.ts";

/** Optimizer settings; `lr` is changed every step by the schedule. */
export interface OptimizerOptions {
  kind: "adamw" | "adam" | "sgd";
  lr: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  momentum: number;
  /**
   * Per-parameter lr multipliers by timm name (layer decay); a name not in it trains at lr. As
   * timm's param-group `lr_scale`, the multiplier applies to AdamW's decoupled decay too.
   */
  lrScales?: ReadonlyMap<string, number>;
}

/**
 * - adamw: p ← p·(1 − lr·wd); p ← p − lr·m̂/(√v̂ + eps)   (torch.optim.AdamW)
 * - adam:  g ← g + wd·p, then Adam                       (torch.optim.Adam)
 * - sgd:   g ← g + wd·p; b ← μ·b + g; p ← p − lr·b       (torch.optim.SGD, dampening 0)
 *
 * Weight decay applies to the parameters whose `decay` is true (timm: matrices, not biases,
 * norms or tokens). Each parameter's lr is `lr` times its `lrScales` entry.
 */
export class VitOptimizer {
  lr: number;
  readonly options: OptimizerOptions;
  /** Per parameter (timm's name): [m, v] for Adam(W), [buffer] for SGD. */
  readonly #slots = new Map<string, tf.Variable[]>();
  #step = 0;

  /** @param options settings */
  constructor(options: OptimizerOptions) {
    this.options = options;
    this.lr = options.lr;
  }

  /** @returns optimizer steps taken so far */
  get step(): number {
    return this.#step;
  }

  /**
   * Applies one update to each parameter from its gradient.
   * @param params the parameters, in a fixed order
   * @param grads one gradient per parameter, in the same order
   * @param gradScale factor applied to every gradient first (the clipping factor), fused into
   *   the update
   */
  applyGradients(params: readonly Param[], grads: readonly tf.Tensor[], gradScale = 1): void {
    if (params.length !== grads.length) {
      throw new Error(`optimizer: ${params.length} parameters but ${grads.length} gradients`);
    }
    const { kind, weightDecay: wd, betas: [b1, b2], eps, momentum, lrScales } = this.options;
    this.#step++;
    const t = this.#step;
    tf.tidy(() => {
      const adam: (AdamItem & { param: Param })[] = [];
      params.forEach((param, i) => {
        const lr = this.lr * (lrScales?.get(param.name) ?? 1);
        const grad = grads[i]!;
        const p = param.variable;
        const decay = wd > 0 && param.decay;
        const slots = this.#slotsFor(param, kind === "sgd" ? 1 : 2);
        if (kind === "sgd") {
          const scaled = gradScale !== 1 ? tf.mul(grad, gradScale) : grad;
          const g = decay ? tf.add(scaled, tf.mul(p, wd)) : scaled;
          const buf = slots[0]!;
          const next = momentum > 0 ? (t === 1 ? g : tf.add(tf.mul(buf, momentum), g)) : g;
          buf.assign(next);
          p.assign(tf.sub(p, tf.mul(next, lr)));
          return;
        }
        const [m, v] = slots as [tf.Variable, tf.Variable];
        adam.push({
          param,
          p,
          g: grad,
          m,
          v,
          h: {
            stepSize: lr / (1 - b1 ** t),
            beta1: b1,
            beta2: b2,
            sqrtBias2: Math.sqrt(1 - b2 ** t),
            eps,
            gradScale,
            l2: decay && kind === "adam" ? wd : 0,
            decayFactor: decay && kind === "adamw" ? 1 - lr * wd : 1,
          },
        });
      });
      // Every variable's update in one kernel where the backend has it (the same bytes).
      adamUpdateAll(adam).forEach(([p2, m2, v2], i) => {
        const it = adam[i]!;
        (it.m as tf.Variable).assign(m2);
        (it.v as tf.Variable).assign(v2);
        it.param.variable.assign(p2);
      });
    });
  }

  #slotsFor(param: Param, n: number): tf.Variable[] {
    let slots = this.#slots.get(param.name);
    if (!slots) {
      slots = Array.from({ length: n }, () => tf.variable(tf.zerosLike(param.variable), false));
      this.#slots.set(param.name, slots);
    }
    return slots;
  }

  /**
   * The optimizer's state, for checkpoints.
   * @returns step count and each parameter's slot tensors by timm name (not copies: read, don't
   *   dispose)
   */
  state(): { step: number; slots: Map<string, tf.Tensor[]> } {
    return { step: this.#step, slots: new Map(this.#slots) };
  }

  /**
   * Restores state saved by {@linkcode VitOptimizer.state}.
   * @param step steps taken
   * @param slots slot values keyed by timm name; copied
   */
  setState(step: number, slots: Map<string, tf.Tensor[]>): void {
    this.#disposeSlots();
    this.#step = step;
    for (const [name, tensors] of slots) this.#slots.set(name, tensors.map((t) => tf.variable(t, false)));
  }

  #disposeSlots(): void {
    for (const slots of this.#slots.values()) slots.forEach((s) => s.dispose());
    this.#slots.clear();
  }

  /** Frees the optimizer state. */
  dispose(): void {
    this.#disposeSlots();
  }
}

/**
 * The optimizer a config's `train.*` asks for, over a model's parameters: what the trainer and
 * every replica build, so that each applies the same update.
 * @param t the config's train section
 * @param names every parameter's timm name, in order
 * @param depth the model's blocks (for layer decay)
 * @returns a fresh optimizer at step 0
 */
export function optimizerFromConfig(t: Config["train"], names: string[], depth: number): VitOptimizer {
  return new VitOptimizer({
    kind: t.optimizer,
    lr: t.lr,
    weightDecay: t.weight_decay,
    betas: [t.betas[0]!, t.betas[1]!],
    eps: t.eps,
    momentum: t.momentum,
    lrScales: layerDecayScales(names, depth, t.layer_decay),
  });
}
