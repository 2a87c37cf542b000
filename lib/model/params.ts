/**
 * The parameters of a model: tf.Variables under timm's names, with their layouts.
 *
 * Linear and patch-embedding weights are held as [in, out] so that `x · W` needs no transpose
 * (see lib/backend/matmul.ts); timm stores them as [out, in] (and the patch embedding as a
 * [D, C, P, P] conv). {@linkcode toTimmLayout} and {@linkcode fromTimmLayout} convert.
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
  timmShape: number[];
  /** `linear`: held as the transpose of timm's [out, prod(rest)] view. */
  layout: Layout;
  init: Init;
  /** Whether weight decay applies (timm: matrices yes; biases, norms, tokens no). */
  decay: boolean;
}

let _nextId = 0;

/** A set of named trainable variables. */
export class ParamStore {
  readonly specs: ParamSpec[] = [];
  readonly #vars = new Map<string, tf.Variable>();
  /** tfjs keeps one global registry of variable names; a prefix keeps two models apart. */
  readonly #prefix = `vit${_nextId++}/`;

  /**
   * Creates and initialises a parameter.
   * @param spec its description
   * @param rng the `init` stream; parameters draw in creation order
   * @returns the variable, in vitlab's layout
   */
  add(spec: ParamSpec, rng: Rng): tf.Variable {
    if (this.#vars.has(spec.name)) throw new Error(`parameter '${spec.name}' declared twice`);
    const shape = internalShape(spec);
    const size = shape.reduce((a, b) => a * b, 1);
    const init = tf.tensor(initValues(spec.init, size, rng), shape, "float32");
    const v = tf.variable(init, true, this.#prefix + spec.name);
    init.dispose(); // tf.variable copies its initial value
    this.specs.push(spec);
    this.#vars.set(spec.name, v);
    return v;
  }

  /**
   * @param name timm's name
   * @returns the variable
   */
  get(name: string): tf.Variable {
    const v = this.#vars.get(name);
    if (!v) throw new Error(`no parameter '${name}'`);
    return v;
  }

  /** @returns variables in declaration order */
  variables(): tf.Variable[] {
    return this.specs.map((s) => this.#vars.get(s.name)!);
  }

  /**
   * @param variableName a tf.Variable's registered name
   * @returns the timm name it belongs to
   */
  nameOf(variableName: string): string {
    return variableName.startsWith(this.#prefix) ? variableName.slice(this.#prefix.length) : variableName;
  }

  /** @returns total number of scalar parameters */
  count(): number {
    return this.specs.reduce((n, s) => n + s.timmShape.reduce((a, b) => a * b, 1), 0);
  }

  /** Frees every variable. */
  dispose(): void {
    for (const v of this.#vars.values()) v.dispose();
    this.#vars.clear();
  }
}

/**
 * @param spec a parameter
 * @returns its shape as vitlab holds it
 */
export function internalShape(spec: ParamSpec): number[] {
  if (spec.layout === "same") return spec.timmShape;
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
export function toTimmLayout(spec: ParamSpec, data: Float32Array): Float32Array {
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
export function fromTimmLayout(spec: ParamSpec, data: Float32Array): Float32Array {
  if (spec.layout === "same") return data;
  const [rows, cols] = internalShape(spec) as [number, number];
  // [out, in] -> [in, out]
  return _transpose(data, cols, rows);
}
