/**
 * AdamW, Adam and SGD as a tfjs Optimizer, with torch.optim's exact update rules.
 *
 * tfjs ships no AdamW. One class covers the three so that state layout, weight-decay masking
 * and checkpointing of moments are written once.
 */
import * as tf from "@tensorflow/tfjs-core";
import { adamUpdate } from "../backend/adam_update.ts";

/** tfjs's name/tensor pair (not re-exported by tfjs-core's index). */
type NamedTensor = { name: string; tensor: tf.Tensor };

/** Optimizer settings; `lr` is changed every step by the schedule. */
export interface OptimizerOptions {
  kind: "adamw" | "adam" | "sgd";
  lr: number;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  momentum: number;
  /** Variable names to which weight decay applies (timm: matrices only). */
  decay: ReadonlySet<string>;
}

/**
 * - adamw: p ← p·(1 − lr·wd); p ← p − lr·m̂/(√v̂ + eps)   (torch.optim.AdamW)
 * - adam:  g ← g + wd·p, then Adam                       (torch.optim.Adam)
 * - sgd:   g ← g + wd·p; b ← μ·b + g; p ← p − lr·b       (torch.optim.SGD, dampening 0)
 */
export class VitOptimizer extends tf.Optimizer {
  /** Name tfjs's serialisation registry would use. */
  static get className(): string {
    return "VitOptimizer";
  }
  lr: number;
  readonly options: OptimizerOptions;
  /** Per variable: [m, v] for Adam(W), [buffer] for SGD. */
  readonly #slots = new Map<string, tf.Variable[]>();
  #step = 0;

  /** @param options settings */
  constructor(options: OptimizerOptions) {
    super();
    this.options = options;
    this.lr = options.lr;
  }

  /** @returns optimizer steps taken so far */
  get step(): number {
    return this.#step;
  }

  /**
   * Applies one update to every variable that has a gradient.
   * @param variableGradients gradients keyed by tf.Variable name
   * @param gradScale factor applied to every gradient first (the clipping factor), fused into
   *   the update
   */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[], gradScale = 1): void {
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    const { kind, weightDecay: wd, betas: [b1, b2], eps, momentum } = this.options;
    const lr = this.lr;
    this.#step++;
    const t = this.#step;
    tf.tidy(() => {
      for (const [name, grad] of entries) {
        const p = tf.engine().registeredVariables[name];
        if (!p) throw new Error(`optimizer: no variable named '${name}'`);
        const decay = wd > 0 && this.options.decay.has(name);
        const slots = this.#slotsFor(name, p, kind === "sgd" ? 1 : 2);
        if (kind === "sgd") {
          const scaled = gradScale !== 1 ? tf.mul(grad, gradScale) : grad;
          const g = decay ? tf.add(scaled, tf.mul(p, wd)) : scaled;
          const buf = slots[0]!;
          const next = momentum > 0 ? (t === 1 ? g : tf.add(tf.mul(buf, momentum), g)) : g;
          buf.assign(next);
          p.assign(tf.sub(p, tf.mul(next, lr)));
          continue;
        }
        const [m, v] = slots as [tf.Variable, tf.Variable];
        const [p2, m2, v2] = adamUpdate(p, grad, m, v, {
          stepSize: lr / (1 - b1 ** t),
          beta1: b1,
          beta2: b2,
          sqrtBias2: Math.sqrt(1 - b2 ** t),
          eps,
          gradScale,
          l2: decay && kind === "adam" ? wd : 0,
          decayFactor: decay && kind === "adamw" ? 1 - lr * wd : 1,
        });
        m.assign(m2);
        v.assign(v2);
        p.assign(p2);
      }
    });
    this.incrementIterations();
  }

  #slotsFor(name: string, p: tf.Variable, n: number): tf.Variable[] {
    let slots = this.#slots.get(name);
    if (!slots) {
      slots = Array.from({ length: n }, () => tf.variable(tf.zerosLike(p), false));
      this.#slots.set(name, slots);
    }
    return slots;
  }

  /**
   * The optimizer's state, for checkpoints.
   * @returns step count and each variable's slot tensors (not copies: read, don't dispose)
   */
  state(): { step: number; slots: Map<string, tf.Tensor[]> } {
    return { step: this.#step, slots: new Map(this.#slots) };
  }

  /**
   * Restores state saved by {@linkcode VitOptimizer.state}.
   * @param step steps taken
   * @param slots slot values keyed by variable name; copied
   */
  setState(step: number, slots: Map<string, tf.Tensor[]>): void {
    this.#disposeSlots();
    this.#step = step;
    this.iterations_ = step;
    for (const [name, tensors] of slots) this.#slots.set(name, tensors.map((t) => tf.variable(t, false)));
  }

  /** @returns the slot tensors as tfjs's NamedTensor list */
  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const [name, slots] of this.#slots) slots.forEach((t, i) => out.push({ name: `${name}/${i}`, tensor: t }));
    return out;
  }

  /** @param weightValues values from {@linkcode VitOptimizer.getWeights} */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const slots = new Map<string, tf.Tensor[]>();
    for (const { name, tensor } of rest) {
      const cut = name.lastIndexOf("/");
      const key = name.slice(0, cut);
      const list = slots.get(key) ?? [];
      list[Number(name.slice(cut + 1))] = tensor;
      slots.set(key, list);
    }
    this.setState(this.iterations_, slots);
  }

  /** @returns the settings, for tfjs's serialisation */
  getConfig(): tf.serialization.ConfigDict {
    const { kind, lr, weightDecay, betas, eps, momentum } = this.options;
    return { kind, lr, weightDecay, betas, eps, momentum };
  }

  #disposeSlots(): void {
    for (const slots of this.#slots.values()) slots.forEach((s) => s.dispose());
    this.#slots.clear();
  }

  /** Frees the optimizer state. */
  override dispose(): void {
    this.#disposeSlots();
  }
}
