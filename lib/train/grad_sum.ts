/**
 * A step's micro-batches summed in micro-batch order, one running sum alive at a time:
 * ((g0 + g1) + g2) + …, the same arithmetic wherever each was computed. The trainer and the
 * replicas (which apply the same summed gradient themselves) both fold with it.
 */
import * as tf from "@tensorflow/tfjs-core";
import { addPacked, unpack } from "../backend/add_packed.ts";
import type { WasmInternals } from "../backend/kernel_types.ts";
import { globalNorm } from "./clip.ts";
import type { MicroGrads } from "./micro_grads.ts";
import type { RemoteMicroGrads } from "./replicas.ts";

/** The running sum of a step's micro-batches. */
export class GradSum {
  #sum: MicroGrads | null = null;

  add(next: () => MicroGrads): void {
    this.#fold((prev) => {
      const r = next();
      return prev === null ? r : this.#plus(prev, r);
    });
  }

  /**
   * Adds a micro-batch computed earlier on this thread (a replica's own, kept while it waited for
   * the micro-batches before it); the sum takes the tensors over.
   */
  addComputed(r: MicroGrads): void {
    const first = this.#sum === null;
    this.add(() => r);
    if (!first) tf.dispose([r.loss, r.correct, ...r.grads]);
  }

  #plus(prev: MicroGrads, r: MicroGrads): MicroGrads {
    return {
      loss: tf.add(prev.loss, r.loss) as tf.Scalar,
      correct: tf.add(prev.correct, r.correct) as tf.Scalar,
      grads: prev.grads.map((g, i) => tf.add(g, r.grads[i]!)),
    };
  }

  /**
   * The sum so far as a replica receives it: loss and correct count as numbers, every gradient
   * back to back in one buffer (the same values).
   * @param m the last micro-batch it holds
   * @param into where to pack the gradients (a new buffer when not given)
   * @returns the packed sum, or null before any micro-batch
   */
  packed(m: number, into?: Float32Array): RemoteMicroGrads | null {
    const sum = this.#sum;
    if (sum === null) return null;
    const grads = packTensors(sum.grads, into);
    return { m, loss: sum.loss.dataSync()[0]!, correct: sum.correct.dataSync()[0]!, grads };
  }

  /** Adds a replica's micro-batch, its gradients packed in one buffer, in one kernel. */
  addPacked(r: RemoteMicroGrads, shapes: number[][]): void {
    this.#fold((prev) => {
      const loss = tf.scalar(r.loss, "float32");
      const correct = tf.scalar(r.correct, "float32");
      // A split smaller than train.batch_size gives a batch with fewer micro-batches than
      // replicas, and the first of them is then a replica's.
      if (prev === null) return { loss, correct, grads: unpack(r.grads, shapes) };
      return {
        loss: tf.add(prev.loss, loss) as tf.Scalar,
        correct: tf.add(prev.correct, correct) as tf.Scalar,
        grads: addPacked(prev.grads, r.grads),
      };
    });
  }

  /** Replaces the running sum by `step(sum)`, freeing the old one. */
  #fold(step: (prev: MicroGrads | null) => MicroGrads): void {
    const prev = this.#sum;
    this.#sum = tf.tidy(() => step(prev));
    if (prev !== null) tf.dispose([prev.loss, prev.correct, ...prev.grads]);
  }

  /** @returns `stats` [3] (loss, correct, gradient norm) and the summed gradients */
  finish(): { stats: tf.Tensor1D; grads: tf.Tensor[] } {
    const total = this.#sum!;
    const stats = tf.tidy(() => {
      const norm = globalNorm(Object.fromEntries(total.grads.map((g, i) => [String(i), g])));
      return tf.stack([total.loss, total.correct, norm]) as tf.Tensor1D;
    });
    tf.dispose([total.loss, total.correct]);
    return { stats, grads: total.grads };
  }
}

/**
 * Tensors' values back to back in one new buffer. On the wasm backend each is read where it
 * lives in the heap (one copy; `dataSync` would copy it out first), elsewhere through `dataSync`.
 * @param tensors float32 tensors, in order
 * @param into where to write them (exactly their length); a new buffer when not given
 * @returns their values, packed
 */
export function packTensors<T extends Float32Array = Float32Array<ArrayBuffer>>(
  tensors: readonly tf.Tensor[],
  into?: T,
): T {
  const total = tensors.reduce((n, g) => n + g.size, 0);
  if (into && into.length !== total) throw new Error(`packing ${total} values into ${into.length}`);
  const out = (into ?? new Float32Array(total)) as T;
  const backend = tf.backend() as unknown as Partial<WasmInternals>;
  const heap = tf.getBackend() === "wasm" && typeof backend.typedArrayFromHeap === "function";
  let offset = 0;
  for (const t of tensors) {
    out.set(heap ? backend.typedArrayFromHeap!(t) : t.dataSync() as Float32Array, offset);
    offset += t.size;
  }
  return out;
}
