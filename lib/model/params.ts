/**
 * The parameters of a model: tf.Variables under timm's names, with their layouts.
 *
 * Linear and patch-embedding weights are held as [in, out] so that `x · W` needs no transpose
 * (see lib/backend/matmul.ts); timm stores them as [out, in] (and the patch embedding as a
 * [D, C, P, P] conv). {@linkcode toTimmLayout} and {@linkcode fromTimmLayout} convert.
 */
/**
 * Marked internal so that `deno doc --lint` does not report tfjs-core's types in these signatures
 * as vitlab's private types (see "On tfjs types" in mod.ts).
 * @internal
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../random.ts";
import { type Init, initValues } from "./init.ts";

/** How a parameter is stored relative to timm. */
export type Layout = "same" | "linear";

/** One parameter's description. */
export interface ParamSpec {
  /** timm's name, e.g. `blocks.0.attn.qkv.weight`. */
  name: string;
  /** Shape in timm's layout, e.g. [3D, D] for qkv. */
  timmShape: readonly number[];
  /** `linear`: held as the transpose of timm's [out, prod(rest)] view. */
  layout: Layout;
  /** How its values are drawn, as timm initialises it. */
  init: Init;
  /** Whether weight decay applies (timm: matrices yes; biases, norms, tokens no). */
  decay: boolean;
}

/**
 * One parameter, named once: timm's name, its variable, and what the optimizer, the checkpoint
 * writer and the training state need. Nothing looks a parameter up by its tf.Variable's name.
 */
export interface Param {
  /** timm's name, e.g. `blocks.0.attn.qkv.weight`. */
  readonly name: string;
  /** The trainable variable, in vitlab's layout (see `layout`). */
  readonly variable: tf.Variable;
  /** Shape in timm's layout. */
  readonly timmShape: readonly number[];
  /** How `variable` is held relative to timm's layout. */
  readonly layout: Layout;
  /** Whether weight decay applies. */
  readonly decay: boolean;
}

/** A model's parameters, in declaration order. */
export class ParamStore {
  readonly #params: Param[] = [];
  readonly #byName = new Map<string, Param>();

  /**
   * Creates and initialises a parameter.
   * @param spec its description
   * @param rng the `init` stream; parameters draw in creation order
   * @returns the variable, in vitlab's layout
   */
  add(spec: ParamSpec, rng: Rng): tf.Variable {
    if (this.#byName.has(spec.name)) throw new Error(`parameter '${spec.name}' declared twice`);
    const shape = internalShape(spec);
    const size = shape.reduce((a, b) => a * b, 1);
    const init = tf.tensor(initValues(spec.init, size, rng), shape, "float32");
    // No name: tfjs makes a unique one, so two models never collide in its global registry.
    const variable = tf.variable(init, true);
    init.dispose(); // tf.variable copies its initial value
    const param: Param = {
      name: spec.name,
      variable,
      timmShape: [...spec.timmShape],
      layout: spec.layout,
      decay: spec.decay,
    };
    this.#params.push(param);
    this.#byName.set(spec.name, param);
    return variable;
  }

  /**
   * Looks a parameter up by name.
   * @param name timm's name
   * @returns the parameter
   */
  param(name: string): Param {
    const p = this.#byName.get(name);
    if (!p) throw new Error(`no parameter '${name}'`);
    return p;
  }

  /**
   * Looks a parameter's variable up by name.
   * @param name timm's name
   * @returns its variable
   */
  get(name: string): tf.Variable {
    return this.param(name).variable;
  }

  /**
   * All parameters, in the order the model declared them.
   * @returns every parameter in declaration order
   */
  list(): readonly Param[] {
    return this.#params;
  }

  /**
   * The variables alone, e.g. to take gradients with respect to them.
   * @returns variables in declaration order
   */
  variables(): tf.Variable[] {
    return this.#params.map((p) => p.variable);
  }

  /**
   * Counts the scalars over all parameters.
   * @returns total number of scalar parameters
   */
  count(): number {
    return this.#params.reduce((n, p) => n + p.timmShape.reduce((a, b) => a * b, 1), 0);
  }

  /** Frees every variable. */
  dispose(): void {
    for (const p of this.#params) p.variable.dispose();
    this.#params.length = 0;
    this.#byName.clear();
  }
}

/**
 * @param spec a parameter
 * @returns its shape as vitlab holds it
 */
export function internalShape(spec: Pick<ParamSpec, "timmShape" | "layout">): number[] {
  if (spec.layout === "same") return [...spec.timmShape];
  const [out, ...rest] = spec.timmShape as [number, ...number[]];
  return [rest.reduce((a, b) => a * b, 1), out];
}

function _transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  }
  return out;
}

/**
 * @param spec a parameter
 * @param data its values in vitlab's layout
 * @returns the values in timm's layout (row-major over `spec.timmShape`)
 */
export function toTimmLayout(spec: Pick<ParamSpec, "timmShape" | "layout">, data: Float32Array): Float32Array {
  if (spec.layout === "same") return data;
  const [rows, cols] = internalShape(spec) as [number, number];
  // [in, out] -> [out, in], which is [D, C, P, P] row-major for the patch embedding
  return _transpose(data, rows, cols);
}

/**
 * @param spec a parameter
 * @param data its values in timm's layout
 * @returns the values in vitlab's layout
 */
export function fromTimmLayout(spec: Pick<ParamSpec, "timmShape" | "layout">, data: Float32Array): Float32Array {
  if (spec.layout === "same") return data;
  const [rows, cols] = internalShape(spec) as [number, number];
  // [out, in] -> [in, out]
  return _transpose(data, cols, rows);
}

/**
 * Sets a parameter from values in timm's layout (a checkpoint's, or an init_from file's).
 * @param param the parameter to set
 * @param data its new values in timm's layout
 */
export function assignFromTimm(param: Param, data: Float32Array): void {
  const values = tf.tensor(fromTimmLayout(param, data), internalShape(param), "float32");
  param.variable.assign(values);
  values.dispose();
}
