/**
 * The prefetch worker: builds training batches with {@linkcode hostBatch} on its own thread, in
 * step order, at most `ahead` batches beyond what the trainer has taken.
 *
 * Messages in: `init` (the split, normalisation, augment options), `epoch` (which batches and
 * the augment stream's state), `credit` (the trainer took a batch). Out: one `batch` message a
 * step, its buffers transferred, with the augment stream's state after it (for checkpoints), or
 * one `error` message when building a batch threw; the worker then builds nothing more.
 */
/// <reference lib="deno.worker" />
import type { AugmentOptions } from "./augment.ts";
import { hostBatch, type Normalization } from "./batch.ts";
import type { ImageSet } from "./image_set.ts";
import { Rng, type RngState } from "../random.ts";
import { type PrefetchBatch, type PrefetchFailure, type PrefetchRequest, workerErrorData } from "./prefetch.ts";

let set: ImageSet | null = null;
let norm: Normalization | null = null;
let augment: Partial<AugmentOptions> | null = null;
let job:
  | { token: number; epoch: number; order: Int32Array; batch: number; step: number; end: number; rng: Rng | null }
  | null = null;
let credits = 0;

self.onmessage = (e: MessageEvent<PrefetchRequest>) => {
  try {
    handle(e.data);
  } catch (err) {
    // Caught here so Deno prints no "Uncaught (in worker)" trace; the main thread rethrows it.
    const out: PrefetchFailure = { kind: "error", token: job?.token ?? null, error: workerErrorData(err) };
    job = null;
    self.postMessage(out);
  }
};

function handle(m: PrefetchRequest): void {
  if (m.kind === "init") {
    ({ set, norm, augment } = m);
    return;
  }
  if (m.kind === "epoch") {
    const rng = m.augmentRng ? Rng.fromState(m.augmentRng as RngState) : null;
    job = { token: m.token, epoch: m.epoch, order: m.order, batch: m.batch, step: m.fromStep, end: m.toStep, rng };
    credits = m.ahead;
  } else {
    credits++;
  }
  while (job && credits > 0 && job.step < job.end) {
    const j = job;
    const indices = j.order.subarray(j.step * j.batch, (j.step + 1) * j.batch);
    const b = hostBatch(set!, indices, norm!, j.rng ? { options: augment!, rng: j.rng, epoch: j.epoch + 1 } : null);
    const out: PrefetchBatch = {
      kind: "batch",
      token: j.token,
      step: j.step,
      ...b,
      augmentRng: j.rng?.state() ?? null,
    };
    self.postMessage(
      out,
      [b.pixels.buffer, b.labels.buffer, ...(b.targets ? [b.targets.buffer] : [])] as ArrayBuffer[],
    );
    j.step++;
    credits--;
  }
}
