/**
 * A replica: a copy of the model and of its optimizer on its own thread and its own tfjs
 * instance. It computes the micro-batches the trainer hands it, then, given the ones it did not
 * compute, sums them all in micro-batch order and applies the update itself, as the trainer does:
 * its copy stays identical to the trainer's without weights travelling.
 *
 * Messages in: `init` (the config, the backend, the split's shape), `step` (micro-batches, the
 * step's learning rate, and the trainer's weights and optimizer state when the copy needs them),
 * `grads` (the micro-batches it did not compute) and `eval` (batches to evaluate, with the shared
 * buffer of the weights the first time). Out: `ready`, one `result` per step (each micro-batch's
 * loss, correct count and gradients, packed into this step's slot of the shared exchange), one `evaluated` per
 * evaluation (each batch's loss, correct count and logits), or `error` (the error as data, and
 * the micro-batch it happened in). An update that fails is reported with the next step.
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { capBlasThreads } from "../backend/blas.ts";
import { initBackend } from "../backend/backend.ts";
import { workerErrorData } from "../data/prefetch.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import type { Param } from "../model/params.ts";
import { clipScale } from "./clip.ts";
import { frozenNames } from "./freeze.ts";
import { GradSum, packTensors } from "./grad_sum.ts";
import { optimizerFromConfig, type VitOptimizer } from "./optimizer.ts";
import { type BatchEval, evalBatchTensors } from "./evaluate.ts";
import { microBatchGrads, microBatchRng, type MicroGrads } from "./micro_grads.ts";
import {
  exchangeView,
  type GradExchange,
  type MirrorSync,
  type RemoteMicroGrads,
  type ReplicaReply,
  type ReplicaRequest,
  weightViews,
} from "./replicas.ts";

let model: VisionTransformer | null = null;
/** The parameters the trainer differentiates (train.freeze), so gradients line up with its own. */
let trainable: Param[] = [];
let init: Extract<ReplicaRequest, { kind: "init" }> | null = null;
/** Views of the trainer's shared weights buffer, one per parameter in order. */
let weights: Float32Array[] = [];
let optimizer: VitOptimizer | null = null;
/** The shared memory this replica's gradients go through. */
let exchange: GradExchange | null = null;
/** False once the model holds other weights than the trainer's copy (an evaluation's). */
let mirrored = false;
/** An update that failed, reported with the next step. */
let broken: unknown = null;

/** A step whose micro-batches this replica computed and whose others it waits for. */
interface _Pending {
  token: number;
  lr: number;
  total: number;
  own: Map<number, MicroGrads>;
  /** The trainer's block summed; undefined until it arrives, null when the trainer had none. */
  head: RemoteMicroGrads | null | undefined;
  rest: Map<number, RemoteMicroGrads>;
}
let pending: _Pending | null = null;

/** Steps that arrived while the one before waited for its micro-batches: run after its update. */
const queued: Extract<ReplicaRequest, { kind: "step" }>[] = [];
/** Micro-batches of a queued step that arrived before it started. */
const early = new Map<number, Extract<ReplicaRequest, { kind: "grads" }>[]>();

self.onmessage = async (e: MessageEvent<ReplicaRequest>) => {
  const m = e.data;
  if (m.kind === "step" && pending) {
    queued.push(m);
    return;
  }
  await _handle(m);
  // A step sent ahead runs as soon as this copy has the update before it.
  while (!pending && queued.length > 0) await _handle(queued.shift()!);
};

async function _handle(m: ReplicaRequest): Promise<void> {
  let current: number | null = null;
  try {
    if (m.kind === "init") {
      init = m;
      await initBackend(m.backend);
      capBlasThreads(1);
      model = new VisionTransformer(vitShapeFromConfig(m.config), m.config.train.seed);
      const names = model.params.list().map((p) => p.name);
      const frozen = frozenNames(names, m.config.train.freeze);
      trainable = model.params.list().filter((p) => !frozen.has(p.name));
      optimizer = optimizerFromConfig(m.config.train, names, model.shape.depth);
      self.postMessage({ kind: "ready" } satisfies ReplicaReply);
      return;
    }
    if (m.kind === "cancel") {
      const i = queued.findIndex((q) => q.token === m.token);
      if (i >= 0) queued.splice(i, 1);
      early.delete(m.token);
      if (pending?.token === m.token) {
        _drop(pending);
        pending = null;
      }
      return;
    }
    if (m.kind === "grads") {
      if (pending?.token !== m.token) {
        if (queued.some((q) => q.token === m.token)) early.set(m.token, [...(early.get(m.token) ?? []), m]);
        return;
      }
      if (m.head !== undefined) pending.head = m.head;
      for (const r of m.rest ?? []) pending.rest.set(r.m, r);
      _finishStep();
      return;
    }
    if (m.kind === "eval") {
      if (m.weights) weights = weightViews(m.weights);
      _assign(weights);
      mirrored = false;
      const results: BatchEval[] = m.batches.map((part) => {
        const out = tf.tidy(() => evalBatchTensors(model!, init!.shape, part));
        const r = {
          loss: out.loss.dataSync()[0]!,
          correct: out.correct.dataSync()[0]!,
          logits: m.logits ? out.logits.dataSync() as Float32Array : null,
        };
        tf.dispose(out);
        return r;
      });
      const buffers = results.flatMap((r) => r.logits ? [r.logits.buffer as ArrayBuffer] : []);
      self.postMessage({ kind: "evaluated", token: m.token, results } satisfies ReplicaReply, buffers);
      return;
    }
    if (broken) throw broken;
    if (m.sync) _sync(m.sync);
    if (!mirrored || optimizer!.step !== m.optStep) {
      throw new Error(
        `its copy of the model is not the trainer's (optimizer step ${optimizer!.step}, the trainer's ${m.optStep})`,
      );
    }
    if (m.exchange) exchange = m.exchange;
    pending = { token: m.token, lr: m.lr, total: m.total, own: new Map(), head: undefined, rest: new Map() };
    const before = early.get(m.token) ?? [];
    early.delete(m.token);
    const results: Extract<ReplicaReply, { kind: "result" }>["results"] = [];
    const ex = exchange!;
    for (const [j, job] of m.parts.entries()) {
      current = job.m;
      const rng = microBatchRng(init!.config.train.seed, m.epoch, m.globalStep, job.m);
      // Kept (tf.tidy returns them) until the micro-batches before it arrive.
      const r = tf.tidy(() =>
        microBatchGrads(model!, init!.shape, job.part, rng, job.weight, init!.config.train.label_smoothing, trainable)
      );
      pending.own.set(job.m, r);
      // Into this step's slot of the shared exchange: the reply carries where, not the values.
      const grads = packTensors(r.grads, exchangeView(ex.results, ex.floats, m.slot, j, ex.parts));
      results.push({ m: job.m, loss: r.loss.dataSync()[0]!, correct: r.correct.dataSync()[0]!, grads });
    }
    self.postMessage({ kind: "result", token: m.token, results } satisfies ReplicaReply);
    for (const g of before) {
      if (g.head !== undefined) pending.head = g.head;
      for (const r of g.rest ?? []) pending.rest.set(r.m, r);
    }
    if (before.length > 0) _finishStep();
  } catch (err) {
    if (pending && m.kind === "step") {
      _drop(pending);
      pending = null;
    }
    // Sent as data: Deno would otherwise print an "Uncaught (in worker)" trace of its own.
    const token = "token" in m ? m.token : null;
    self.postMessage({ kind: "error", token, m: current, error: workerErrorData(err) } satisfies ReplicaReply);
  }
}

/** Copies weights (every parameter, in order) into the model. */
function _assign(values: Float32Array[]): void {
  model!.params.list().forEach((p, i) => {
    // tf.tensor copies the values into this replica's memory.
    const t = tf.tensor(values[i]!, p.variable.shape, "float32");
    p.variable.assign(t);
    t.dispose();
  });
}

/** Takes the trainer's weights and optimizer state as this replica's copy. */
function _sync(state: MirrorSync): void {
  if (state.weights) weights = weightViews(state.weights);
  _assign(weights);
  const shapes = new Map(model!.params.list().map((p) => [p.name, p.variable.shape]));
  const slots = new Map(
    state.slots.map(([name, values]) => [name, values.map((v) => tf.tensor(v, shapes.get(name)!, "float32"))]),
  );
  optimizer!.setState(state.step, slots);
  for (const list of slots.values()) tf.dispose(list);
  mirrored = true;
}

/**
 * When every micro-batch of the pending step is here: sums them in micro-batch order, checks the
 * loss and gradient norm as the trainer does, and applies the trainer's update to this copy.
 */
function _finishStep(): void {
  const p = pending!;
  if (p.head === undefined) return;
  const first = p.head ? p.head.m + 1 : 0;
  for (let m = first; m < p.total; m++) if (!p.own.has(m) && !p.rest.has(m)) return;
  pending = null;
  try {
    const shapes = trainable.map((t) => t.variable.shape);
    const sum = new GradSum();
    let from = first;
    if (p.head && p.own.has(first)) {
      // g0 + g1 as g1 + g0 (a float add is commutative, so the same bytes): this replica's own
      // tensors, then the trainer's packed block added by one kernel, instead of unpacking it.
      sum.addComputed(p.own.get(first)!);
      sum.addPacked(p.head, shapes);
      from = first + 1;
    } else if (p.head) sum.addPacked(p.head, shapes);
    for (let m = from; m < p.total; m++) {
      const own = p.own.get(m);
      if (own) sum.addComputed(own);
      else sum.addPacked(p.rest.get(m)!, shapes);
    }
    p.own.clear();
    const out = sum.finish();
    const [loss, , norm] = Array.from(out.stats.dataSync()) as [number, number, number];
    // The trainer stops the run on a non-finite step without updating: so does the copy.
    if (Number.isFinite(loss) && Number.isFinite(norm)) {
      optimizer!.lr = p.lr;
      optimizer!.applyGradients(trainable, out.grads, clipScale(norm, init!.config.train.grad_clip));
    }
    tf.dispose([out.stats, ...out.grads]);
  } catch (err) {
    broken = err;
    _drop(p);
  }
}

/** Frees the micro-batches a step computed here and no sum took over. */
function _drop(p: _Pending): void {
  for (const r of p.own.values()) tf.dispose([r.loss, r.correct, ...r.grads]);
  p.own.clear();
}
