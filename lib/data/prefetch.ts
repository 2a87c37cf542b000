/**
 * Training batches built on a worker thread while the current step trains.
 *
 * Why: tfjs's wasm kernels run on the main thread, so a batch built there (gather, normalise,
 * augment) waits for the step and the step for it. In a worker it overlaps the step, on the
 * core the wasm backend leaves idle. The worker runs the same {@linkcode hostBatch} over the same
 * stream in the same order, so batches are bit-identical with and without prefetching.
 */
import type { AugmentOptions } from "./augment.ts";
import { type HostBatch, hostBatch, type Normalization } from "./batch.ts";
import type { ImageSet } from "./image_set.ts";
import { Rng, type RngState } from "../random.ts";

/** A message to the worker. */
export type PrefetchRequest =
  | { kind: "init"; set: ImageSet; norm: Normalization; augment: Partial<AugmentOptions> }
  | ({ kind: "epoch"; token: number; ahead: number } & EpochPlan)
  | { kind: "credit" };

/** A batch from the worker, with the augment stream's state after it. */
export interface PrefetchBatch extends HostBatch {
  token: number;
  step: number;
  augmentRng: RngState | null;
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
   * @throws {Error} when the worker failed
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
    w.onmessage = (e: MessageEvent<PrefetchBatch>) => {
      const b = e.data;
      if (b.token !== this.#token) return; // from an epoch already left
      if (this.#waiting?.step === b.step) {
        const waiting = this.#waiting;
        this.#waiting = null;
        waiting.resolve(b);
      } else {
        this.#ready.set(b.step, b);
      }
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failure = new Error(`batch prefetch worker failed: ${e.message}`);
      this.#waiting?.reject(this.#failure);
      this.#waiting = null;
    };
    const init: PrefetchRequest = { kind: "init", set: this.#set, norm: this.#norm, augment: this.#augment };
    w.postMessage(init);
    this.#worker = w;
    return w;
  }
}
