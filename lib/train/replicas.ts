/**
 * Replicas of the model on worker threads, so that every core computes micro-batches of a step
 * side by side. The trainer's thread is replica 0; the pool holds the others. Each step, a
 * replica receives its micro-batches and returns their gradients; then it receives the ones it
 * did not compute, sums all of them in micro-batch order and applies the update itself, as the
 * trainer does with the same sums: every replica keeps an identical copy of the weights and the
 * optimizer, and no weights travel between steps. The result does not depend on how many
 * replicas there are. When a copy may differ (the first step, after steps on the trainer alone,
 * after an evaluation), the step carries the trainer's weights and optimizer state.
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
    /** The learning rate of this step's update, as the trainer's optimizer has it. */
    lr: number;
    /** The trainer's optimizer step count before this update (the replica's must match). */
    optStep: number;
    /** Micro-batches in the step, all replicas together. */
    total: number;
    /** The trainer's weights and optimizer state, when the replica's copy may differ from them. */
    sync?: MirrorSync;
    /** Which of the two slots of the gradient exchange this step's gradients use. */
    slot: number;
    /** The shared memory gradients travel through, sent once (and again when it is replaced). */
    exchange?: GradExchange;
    parts: { m: number; part: HostBatch; weight: number }[];
  }
  | {
    /**
     * The micro-batches of a step a replica did not compute, for its own copy of the update:
     * `head` is the trainer's block summed (micro-batches 0..head.m; null when it had none),
     * `rest` the other replicas' micro-batches. No reply.
     */
    kind: "grads";
    token: number;
    head?: RemoteMicroGrads | null;
    rest?: RemoteMicroGrads[];
  }
  | {
    /** Drop a step sent ahead that will not run on the replicas (its result, if any, is ignored). */
    kind: "cancel";
    token: number;
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
 * What a replica copies to train as the trainer does: every parameter's values, in order, and the
 * optimizer's step count and slots (each trainable parameter's moments, by timm name).
 */
export interface MirrorState {
  weights: Float32Array[];
  step: number;
  slots: [string, Float32Array[]][];
}

/**
 * A {@linkcode MirrorState} as a step carries it: the weights through the shared buffer that
 * evaluation uses too (the buffer itself the first time a worker is sent it).
 */
export type MirrorSync = Omit<MirrorState, "weights"> & { weights?: SharedWeights };

/**
 * Shared memory through which a step's gradients travel between the trainer and one worker,
 * allocated once and reused: two slots, one per step parity, so that the gradients of a step are
 * never overwritten before everyone who needs them has read them (the next step's are written to
 * the other slot, and the one after only once every replica has applied this step's update).
 */
export interface GradExchange {
  /** Floats in one packed set of gradients (every trainable parameter's). */
  floats: number;
  /** The trainer's summed block: 2 slots of `floats`. Shared by every worker. */
  head: SharedArrayBuffer;
  /** This worker's micro-batches: 2 slots of `parts` × `floats`. */
  results: SharedArrayBuffer;
  /** Micro-batches a worker computes in a step, at most. */
  parts: number;
}

/**
 * A packed set of gradients inside a shared buffer.
 * @param buffer the exchange's head or results buffer
 * @param floats floats in one set
 * @param slot the step's slot (0 or 1)
 * @param index which set within the slot (a worker's j-th micro-batch)
 * @param perSlot sets in a slot
 * @returns a view of `floats` values
 */
export function exchangeView(
  buffer: SharedArrayBuffer,
  floats: number,
  slot: number,
  index = 0,
  perSlot = 1,
): Float32Array {
  return new Float32Array(buffer, (slot * perSlot + index) * floats * 4, floats);
}

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
  | { kind: "error"; token: number | null; m: number | null; error: WorkerErrorData };

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

  /** The trainer's optimizer step at which every replica's copy is known to equal its own (null: unknown). */
  inSyncAt: number | null = null;
  #exchange:
    | { floats: number; parts: number; head: SharedArrayBuffer; results: SharedArrayBuffer[]; sent: boolean[] }
    | null = null;
  #steps = 0;

  /**
   * Hands each worker its micro-batches of a step.
   * @param step which step (for the masks' streams), its learning rate, the optimizer's step count,
   *   the micro-batches in all, and the trainer's state when the copies need it
   * @param perWorker micro-batches for worker 1, 2, …
   * @returns the step's token (for {@linkcode sendGrads}) and the workers' results, in micro-batch order
   * @throws {RunError} naming the replica and the micro-batch when one fails
   */
  compute(
    step: Pick<Extract<ReplicaRequest, { kind: "step" }>, "epoch" | "globalStep" | "lr" | "optStep" | "total"> & {
      sync?: MirrorState;
    },
    perWorker: { m: number; part: HostBatch; weight: number }[][],
    floats: number,
  ): { token: number; head: Float32Array; results: Promise<RemoteMicroGrads[]> } {
    const token = ++this.#token;
    const { sync, ...rest } = step;
    const shared = sync ? this.#share(sync.weights) : null;
    const slot = this.#steps++ % 2;
    const ex = this.#exchangeFor(floats, Math.max(1, ...perWorker.map((p) => p.length)));
    const replies = Promise.all(perWorker.map((parts, i) => {
      const exchange = ex.sent[i]
        ? {}
        : { exchange: { floats, parts: ex.parts, head: ex.head, results: ex.results[i]! } };
      ex.sent[i] = true;
      const mirror = sync && shared
        ? { sync: { step: sync.step, slots: sync.slots, ...this.#bufferFor(shared, i) } }
        : {};
      const message: ReplicaRequest = { kind: "step", token, ...rest, ...mirror, slot, ...exchange, parts };
      return _ask(this.#workers[i]!, message, `replica ${i + 1}, step ${step.globalStep + 1}`);
    }));
    const results = replies.then((all) =>
      all.flatMap((r) => r.kind === "result" ? r.results : []).sort((a, b) => a.m - b.m)
    );
    // A step sent ahead may be withdrawn and never awaited: its failure is then no one's.
    results.catch(() => {});
    return { token, head: exchangeView(ex.head, floats, slot), results };
  }

  /** The gradient exchange for sets of `floats` and up to `parts` micro-batches a worker, made when it does not fit. */
  #exchangeFor(floats: number, parts: number) {
    const ex = this.#exchange;
    if (ex && ex.floats === floats && ex.parts >= parts) return ex;
    const shared = (n: number) => new SharedArrayBuffer(n * 4);
    this.#exchange = {
      floats,
      parts,
      head: shared(2 * floats),
      results: this.#workers.map(() => shared(2 * parts * floats)),
      sent: this.#workers.map(() => false),
    };
    return this.#exchange;
  }

  /**
   * Sends worker i the micro-batches of a step it did not compute (no reply: it updates its copy).
   * @param i the worker (0 for the pool's first)
   * @param grads the step's token, and the trainer's summed block and/or other replicas' micro-batches
   */
  sendGrads(i: number, grads: Omit<Extract<ReplicaRequest, { kind: "grads" }>, "kind">): void {
    // The gradients are views of the shared exchange: the message carries where, not the values.
    this.#workers[i]!.postMessage({ kind: "grads", ...grads } satisfies ReplicaRequest);
  }

  /**
   * Withdraws a step sent ahead (its micro-batches, computed or not, are dropped on every worker).
   * @param token the step's token, as {@linkcode compute} returned it
   */
  cancel(token: number): void {
    for (const w of this.#workers) {
      _waiting.get(w)?.delete(token);
      w.postMessage({ kind: "cancel", token } satisfies ReplicaRequest);
    }
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
    // The replicas evaluate with these weights in their models: their copies no longer train as the trainer's.
    this.inSyncAt = null;
    const shared = this.#share(weights);
    const replies = await Promise.all(perWorker.map((batches, i) => {
      const message: ReplicaRequest = { kind: "eval", token, ...this.#bufferFor(shared, i), batches, logits };
      return _ask(this.#workers[i]!, message, `replica ${i + 1}, evaluation`);
    }));
    return replies.map((r) => r.kind === "evaluated" ? r.results : []);
  }

  /**
   * The weights buffer for worker i's message (an evaluation, or a step that syncs its copy), when
   * it has not been sent it yet. Each replica copies the weights out before it computes, and this
   * thread writes new ones only after every reply: the buffer is never read while written.
   */
  #bufferFor(shared: _SharedWeights, i: number): { weights?: SharedWeights } {
    if (shared.sent[i]) return {};
    shared.sent[i] = true;
    return { weights: { buffer: shared.buffer, sizes: shared.sizes } };
  }

  /**
   * Writes the weights into the buffer the replicas read to evaluate or to take as their copy,
   * making one the first time (or when the parameters' sizes change).
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

/** Workers that died, with why. */
const _dead = new WeakMap<Worker, string>();

/**
 * Requests to workers and their replies, matched by token: a step sent ahead is in flight beside
 * the step before it. A worker's error rejects the request it names (every one of that worker's
 * when it names none); a worker that dies rejects them all, with one line, never a hang.
 */
const _waiting = new WeakMap<Worker, Map<number, _Waiter>>();

/** A request awaiting its reply, and what it was (for its error). */
type _Waiter = { resolve: (r: ReplicaReply) => void; reject: (e: Error) => void; what: string };

function _ask(worker: Worker, message: ReplicaRequest, what: string): Promise<ReplicaReply> {
  let waiting = _waiting.get(worker);
  if (!waiting) {
    const list = new Map<number, _Waiter>();
    waiting = list;
    _waiting.set(worker, list);
    const fail = (token: number | null, err: (what: string) => Error) => {
      for (const [t, w] of [...list]) {
        if (token !== null && t !== token) continue;
        list.delete(t);
        w.reject(err(w.what));
      }
    };
    worker.onmessage = (e: MessageEvent<ReplicaReply>) => {
      const r = e.data;
      if (r.kind === "error") {
        const cause = errorFromWorker(r.error);
        return fail(r.token, (w) => {
          const where = r.m === null ? w : `${w}, micro-batch ${r.m + 1}`;
          return new RunError(`${where} failed: ${cause.message}`, { cause });
        });
      }
      const token = "token" in r ? r.token : 0;
      const w = list.get(token);
      // A reply to a step withdrawn after it was sent ahead: no one waits for it.
      if (!w) return;
      list.delete(token);
      w.resolve(r);
    };
    worker.onerror = (e: ErrorEvent) => {
      // A replica that died (a wasm abort) ends the run with one line, never a hang: the requests
      // waiting now and any made later.
      e.preventDefault();
      _dead.set(worker, e.message);
      fail(null, (w) => new RunError(`${w} failed: ${e.message}`));
    };
  }
  const token = "token" in message ? message.token : 0;
  const died = _dead.get(worker);
  if (died !== undefined) return Promise.reject(new RunError(`${what} failed: ${died}`));
  return new Promise((resolve, reject) => {
    waiting.set(token, { resolve, reject, what });
    worker.postMessage(message);
  });
}
