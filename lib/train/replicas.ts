/**
 * Replicas of the model on worker threads, so that every core computes micro-batches of a step
 * side by side. The trainer's thread is replica 0; the pool holds the others. Each step, a
 * replica receives the current weights and its micro-batches and returns their gradients; the
 * trainer sums all of them in micro-batch order and updates once, so the result does not depend
 * on how many replicas there are.
 */
import type { BackendName } from "../config/schema.ts";
import type { Config } from "../config/schema.ts";
import type { HostBatch } from "../data/batch.ts";
import type { ImageSet } from "../data/image_set.ts";
import { errorFromWorker, type WorkerErrorData } from "../data/prefetch.ts";
import { RunError } from "../errors.ts";
import type { BatchEval, EvalReplicas } from "./evaluate.ts";

/** Messages to a replica. */
export type ReplicaRequest =
  | {
    kind: "init";
    config: Config;
    backend: Exclude<BackendName, "auto">;
    shape: Pick<ImageSet, "height" | "width" | "channels" | "numClasses">;
  }
  | {
    kind: "step";
    token: number;
    epoch: number;
    globalStep: number;
    /** Sent when the replica has not been sent this buffer yet (no weights travel otherwise). */
    weights?: SharedWeights;
    parts: { m: number; part: HostBatch; weight: number }[];
  }
  | {
    /** Evaluate batches without dropout with the weights in the shared buffer. */
    kind: "eval";
    token: number;
    weights?: SharedWeights;
    batches: HostBatch[];
    logits: boolean;
  };

/**
 * Where the current weights are, every parameter's values back to back in the model's layout
 * and order. Sent to a replica once, written before every step or evaluation.
 */
export interface SharedWeights {
  buffer: SharedArrayBuffer;
  /** Each parameter's length, in order. */
  sizes: number[];
}

/** What a micro-batch computed by a replica gives back: numbers and arrays, bit for bit. */
export interface RemoteMicroGrads {
  /** The micro-batch's index in the step. */
  m: number;
  /** Its weighted loss (a float32 value). */
  loss: number;
  /** Its correct count. */
  correct: number;
  /** Every parameter's gradient back to back, in order: one buffer to transfer. */
  grads: Float32Array;
}

/** Messages from a replica. */
export type ReplicaReply =
  | { kind: "ready" }
  | { kind: "result"; token: number; results: RemoteMicroGrads[] }
  | { kind: "evaluated"; token: number; results: BatchEval[] }
  | { kind: "error"; m: number | null; error: WorkerErrorData };

/**
 * Views of a shared weights buffer, one per parameter in order: how the pool writes the weights
 * and how a replica reads them.
 * @param w the buffer and each parameter's length
 * @returns a Float32Array over each parameter's values
 */
export function weightViews(w: SharedWeights): Float32Array[] {
  let offset = 0;
  return w.sizes.map((n) => {
    const view = new Float32Array(w.buffer, offset * 4, n);
    offset += n;
    return view;
  });
}

interface _SharedWeights extends SharedWeights {
  views: Float32Array[];
  /** Whether each worker has been sent this buffer. */
  sent: boolean[];
}

/** The replicas beyond the trainer's own thread. */
export class ReplicaPool implements EvalReplicas {
  readonly #workers: Worker[];
  #token = 0;
  /** The weights every replica reads at the start of a step, and which replica has the buffer. */
  #shared: _SharedWeights | null = null;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Starts `count` replica workers and waits until each has its backend and model.
   * @param count workers to start (the trainer's thread is not counted)
   * @param init what each needs: config, backend, the split's shape
   * @returns the pool
   * @throws {RunError} when a replica cannot start
   */
  static async start(count: number, init: Extract<ReplicaRequest, { kind: "init" }>): Promise<ReplicaPool> {
    const workers = Array.from(
      { length: count },
      () => new Worker(new URL("./replica_worker.ts", import.meta.url), { type: "module" }),
    );
    const pool = new ReplicaPool(workers);
    try {
      await Promise.all(workers.map((w, i) => _ask(w, init, `replica ${i + 1} (starting)`)));
    } catch (err) {
      pool.close();
      throw err;
    }
    return pool;
  }

  /** @returns how many worker replicas there are */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Hands each worker its micro-batches of a step, with the current weights.
   * @param step which step (for the masks' streams)
   * @param weights every parameter's values, in order
   * @param perWorker micro-batches for worker 1, 2, …
   * @returns their results, in micro-batch order
   * @throws {RunError} naming the replica and the micro-batch when one fails
   */
  async compute(
    step: { epoch: number; globalStep: number },
    weights: Float32Array[],
    perWorker: { m: number; part: HostBatch; weight: number }[][],
  ): Promise<RemoteMicroGrads[]> {
    const token = ++this.#token;
    const shared = this.#share(weights);
    const replies = await Promise.all(perWorker.map((parts, i) => {
      const message: ReplicaRequest = { kind: "step", token, ...step, ...this.#bufferFor(shared, i), parts };
      return _ask(this.#workers[i]!, message, `replica ${i + 1}, step ${step.globalStep + 1}`);
    }));
    return replies.flatMap((r) => r.kind === "result" ? r.results : []).sort((a, b) => a.m - b.m);
  }

  /**
   * Evaluates batches on the workers with the given weights (an {@linkcode EvalReplicas}).
   * @param weights every parameter's values, in order
   * @param perWorker batches for worker 1, 2, …
   * @param logits whether to return each batch's logits
   * @returns each worker's results, in the order of its batches
   * @throws {RunError} naming the replica when one fails
   */
  async evaluate(weights: Float32Array[], perWorker: HostBatch[][], logits: boolean): Promise<BatchEval[][]> {
    const token = ++this.#token;
    const shared = this.#share(weights);
    const replies = await Promise.all(perWorker.map((batches, i) => {
      const message: ReplicaRequest = { kind: "eval", token, ...this.#bufferFor(shared, i), batches, logits };
      return _ask(this.#workers[i]!, message, `replica ${i + 1}, evaluation`);
    }));
    return replies.map((r) => r.kind === "evaluated" ? r.results : []);
  }

  /**
   * The buffer for worker i's message, when it has not been sent it yet. Each replica copies the
   * weights out before it computes, and this thread writes new ones only after every reply: the
   * buffer is never read while written.
   */
  #bufferFor(shared: _SharedWeights, i: number): { weights?: SharedWeights } {
    if (shared.sent[i]) return {};
    shared.sent[i] = true;
    return { weights: { buffer: shared.buffer, sizes: shared.sizes } };
  }

  /**
   * Writes the weights into the buffer the replicas read, making one the first time (or when
   * the parameters' sizes change). A structured clone of the weights with every step cost the
   * training thread 0.7 ms and the replica 1.6 ms before it could start (vit-small, measured).
   */
  #share(weights: Float32Array[]): _SharedWeights {
    const sizes = weights.map((w) => w.length);
    let shared = this.#shared;
    if (!shared || shared.sizes.length !== sizes.length || shared.sizes.some((n, i) => n !== sizes[i])) {
      const buffer = new SharedArrayBuffer(sizes.reduce((a, b) => a + b, 0) * 4);
      shared = { buffer, sizes, views: weightViews({ buffer, sizes }), sent: this.#workers.map(() => false) };
      this.#shared = shared;
    }
    weights.forEach((w, i) => shared.views[i]!.set(w));
    return shared;
  }

  /** Ends the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }
}

function _ask(worker: Worker, message: ReplicaRequest, what: string): Promise<ReplicaReply> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<ReplicaReply>) => {
      const r = e.data;
      if (r.kind !== "error") return resolve(r);
      const cause = errorFromWorker(r.error);
      const where = r.m === null ? what : `${what}, micro-batch ${r.m + 1}`;
      reject(new RunError(`${where} failed: ${cause.message}`, { cause }));
    };
    worker.onerror = (e: ErrorEvent) => {
      // A replica that died (a wasm abort) ends the run with one line, never a hang.
      e.preventDefault();
      reject(new RunError(`${what} failed: ${e.message}`));
    };
    worker.postMessage(message);
  });
}
