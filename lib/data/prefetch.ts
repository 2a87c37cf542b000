/**
 * Training batches built on a worker thread while the current step trains.
 *
 * Why: tfjs's wasm kernels run on the main thread, so a batch built there (gather, normalise,
 * augment) waits for the step and the step for it. In a worker it overlaps the step, on the
 * core the wasm backend leaves idle. The worker runs the same {@linkcode hostBatch} over the same
 * stream in the same order, so batches are bit-identical with and without prefetching.
 *
 * An error thrown while the worker builds a batch is caught there and sent back as a message
 * ({@linkcode workerErrorData}), then rethrown by {@linkcode BatchSource.next} as the same class
 * with the same one-line message ({@linkcode errorFromWorker}): left uncaught, Deno would print
 * the worker's stack trace and "Uncaught (in worker)" before vitlab's own one-line error, and the
 * class (hence the exit code) would be lost.
 */
import type { AugmentOptions } from "./augment.ts";
import { type HostBatch, hostBatch, type Normalization } from "./batch.ts";
import type { ImageSet } from "./image_set.ts";
import {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  firstLine,
  RunError,
  UsageError,
  VitlabError,
} from "../errors.ts";
import { Rng, type RngState } from "../random.ts";

/** A message to the worker. */
export type PrefetchRequest =
  | { kind: "init"; set: ImageSet; norm: Normalization; augment: Partial<AugmentOptions> }
  | ({ kind: "epoch"; token: number; ahead: number } & EpochPlan)
  | { kind: "credit" };

/** A batch from the worker, with the augment stream's state after it. */
export interface PrefetchBatch extends HostBatch {
  kind: "batch";
  token: number;
  step: number;
  augmentRng: RngState | null;
}

/** The worker failed: the epoch it was building (null when it was building none) and the error. */
export interface PrefetchFailure {
  kind: "error";
  token: number | null;
  error: WorkerErrorData;
}

/** A message from the worker. */
export type PrefetchReply = PrefetchBatch | PrefetchFailure;

/**
 * An error as plain data, to cross from the worker: structured cloning keeps no class of ours
 * (a ConfigError would arrive as a plain Error, and with it the exit code would go).
 */
export interface WorkerErrorData {
  /** The class name, e.g. "ConfigError" or "RangeError". */
  name: string;
  /** The message's first line. */
  message: string;
  /** The exit code of a {@linkcode VitlabError}, else null. */
  exitCode: number | null;
  /** The stack in the worker, shown by the CLI only with --debug. */
  stack: string | null;
}

/** Our classes whose constructor takes the message alone, to rebuild from their name. */
const VITLAB_ERRORS: Record<string, new (message: string) => VitlabError> = {
  BackendError,
  CheckpointError,
  ConfigError,
  DataError,
  RunError,
  UsageError,
};

/** JavaScript's own classes a batch can throw (a RangeError from a bad typed-array length, say). */
const BUILTIN_ERRORS: Record<string, new (message: string) => Error> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/**
 * Turns whatever the worker caught into data that survives `postMessage`.
 * @param err anything thrown
 * @returns its class name, first message line, exit code (for vitlab's errors) and stack
 *
 * @example
 * ```ts
 * import { workerErrorData } from "./prefetch.ts";
 * import { ConfigError } from "../errors.ts";
 * const data = workerErrorData(new ConfigError("augment.hflip: expected a number ≥ 0 and ≤ 1, got 2"));
 * if (data.name !== "ConfigError" || data.exitCode !== 2) throw new Error("class lost");
 * ```
 */
export function workerErrorData(err: unknown): WorkerErrorData {
  const error = err instanceof Error ? err : null;
  return {
    name: error?.name ?? "Error",
    message: firstLine(err),
    exitCode: err instanceof VitlabError ? err.exitCode : null,
    stack: error?.stack ?? null,
  };
}

/**
 * Rebuilds on the main thread an error the worker sent: the same class where it is one of
 * vitlab's or JavaScript's own, else a {@linkcode VitlabError} with the same exit code (or an
 * Error) under the same name; the message is its one line, the stack the worker's.
 * @param data what {@linkcode workerErrorData} made of it
 * @returns the error to throw
 *
 * @example
 * ```ts
 * import { errorFromWorker, workerErrorData } from "./prefetch.ts";
 * import { ConfigError } from "../errors.ts";
 * const err = errorFromWorker(workerErrorData(new ConfigError("augment.randaugment_m: too big")));
 * if (!(err instanceof ConfigError) || err.message !== "augment.randaugment_m: too big") throw new Error("changed");
 * ```
 */
export function errorFromWorker(data: WorkerErrorData): Error {
  const Ours = VITLAB_ERRORS[data.name];
  const Builtin = BUILTIN_ERRORS[data.name];
  let err: Error;
  if (Ours) err = new Ours(data.message);
  else if (data.exitCode !== null) err = new VitlabError(data.message, data.exitCode);
  else if (Builtin) err = new Builtin(data.message);
  else err = new Error(data.message);
  // Subclasses we cannot rebuild (DivergedError's constructor takes numbers) keep their name at least.
  if (err.name !== data.name) err.name = data.name;
  if (data.stack !== null) err.stack = data.stack;
  return err;
}

/** What one epoch's batches are made of. */
export interface EpochPlan {
  /** Zero-based epoch (augmentation sees it one-based, as the config counts). */
  epoch: number;
  /** The epoch's shuffled order of the split. */
  order: Int32Array;
  batch: number;
  /** First step to build (a resumed epoch starts mid-way) and one past the last. */
  fromStep: number;
  toStep: number;
  /** The epoch's augment stream at `fromStep`, or null when augmentation is off. */
  augmentRng: RngState | null;
}

/** Yields an epoch's batches in step order, built ahead on a worker or, when off, on demand. */
export class BatchSource {
  readonly #set: ImageSet;
  readonly #norm: Normalization;
  readonly #augment: Partial<AugmentOptions>;
  readonly #ahead: number;
  #worker: Worker | null = null;
  #token = 0;
  #plan: EpochPlan | null = null;
  #rng: Rng | null = null;
  #step = 0;
  #ready = new Map<number, PrefetchBatch>();
  #waiting: { step: number; resolve: (b: PrefetchBatch) => void; reject: (e: Error) => void } | null = null;
  #failure: Error | null = null;

  /**
   * @param set the training split
   * @param norm per-channel mean and std
   * @param augment the config's `augment` section
   * @param ahead batches the worker builds beyond the one being trained on; 0 builds each batch
   *   on the calling thread when it is asked for
   */
  constructor(set: ImageSet, norm: Normalization, augment: Partial<AugmentOptions>, ahead: number) {
    this.#set = set;
    this.#norm = norm;
    this.#augment = augment;
    this.#ahead = ahead;
  }

  /**
   * Starts an epoch; batches of any earlier epoch still in flight are dropped.
   * @param plan which batches, and the augment stream's state at the first
   */
  startEpoch(plan: EpochPlan): void {
    this.#plan = plan;
    this.#step = plan.fromStep;
    this.#rng = plan.augmentRng ? Rng.fromState(plan.augmentRng) : null;
    this.#ready.clear();
    if (this.#ahead === 0) return;
    const w = this.#ensureWorker();
    this.#token++;
    const msg: PrefetchRequest = { kind: "epoch", token: this.#token, ...plan, ahead: this.#ahead + 1 };
    w.postMessage(msg);
  }

  /**
   * @returns the next step's batch and the augment stream's state after it
   * @throws {Error} what building the batch threw, in the worker or here: the same class with
   *   its one-line message (so a ConfigError still exits with 2)
   */
  async next(): Promise<{ batch: HostBatch; augmentRng: RngState | null }> {
    const plan = this.#plan;
    if (!plan || this.#step >= plan.toStep) throw new Error("BatchSource.next: no batch left in this epoch");
    const step = this.#step++;
    if (this.#ahead === 0) {
      const indices = plan.order.subarray(step * plan.batch, (step + 1) * plan.batch);
      const rng = this.#rng;
      const batch = hostBatch(
        this.#set,
        indices,
        this.#norm,
        rng ? { options: this.#augment, rng, epoch: plan.epoch + 1 } : null,
      );
      return { batch, augmentRng: rng?.state() ?? null };
    }
    const b = this.#ready.get(step) ?? await new Promise<PrefetchBatch>((resolve, reject) => {
      if (this.#failure) reject(this.#failure);
      else this.#waiting = { step, resolve, reject };
    });
    this.#ready.delete(step);
    this.#worker!.postMessage({ kind: "credit" } satisfies PrefetchRequest);
    return { batch: { pixels: b.pixels, labels: b.labels, targets: b.targets }, augmentRng: b.augmentRng };
  }

  /** Stops the worker; the source cannot be used after. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(new URL("./prefetch_worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (e: MessageEvent<PrefetchReply>) => {
      const b = e.data;
      if (b.token !== null && b.token !== this.#token) return; // from an epoch already left
      if (b.kind === "error") {
        this.#fail(errorFromWorker(b.error));
        return;
      }
      if (this.#waiting?.step === b.step) {
        const waiting = this.#waiting;
        this.#waiting = null;
        waiting.resolve(b);
      } else {
        this.#ready.set(b.step, b);
      }
    };
    // Only what the worker's own catch cannot see lands here: its module failing to evaluate, which
    // Deno reports with a trace of its own. The main thread has loaded the same modules first, so
    // short of a broken build this does not happen; the message is still cut to one line.
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const message = firstLine(e.message).replace(/^Uncaught (\(in worker[^)]*\) )?/, "");
      this.#fail(new Error(`batch prefetch worker failed: ${message}`));
    };
    const init: PrefetchRequest = { kind: "init", set: this.#set, norm: this.#norm, augment: this.#augment };
    w.postMessage(init);
    this.#worker = w;
    return w;
  }

  #fail(err: Error): void {
    // The batches before the failing one were sent first and are still served; the failure is kept
    // for the step that needed it and every step after.
    this.#failure ??= err;
    this.#waiting?.reject(this.#failure);
    this.#waiting = null;
  }
}
