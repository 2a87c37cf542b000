/**
 * A replica: a copy of the model on its own thread and its own tfjs instance, computing the
 * micro-batches the trainer hands it with the current weights it is sent.
 *
 * Messages in: `init` (the config, the backend, the split's shape), `step` (micro-batches) and
 * `eval` (batches to evaluate), each with the shared buffer of the weights the first time.
 * Out: `ready`, one `result` per step (each micro-batch's loss, correct count and gradients packed
 * in one buffer, transferred), one `evaluated` per evaluation (each batch's loss, correct count and
 * logits), or `error` (the error as data, and the micro-batch it happened in).
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { capBlasThreads } from "../backend/blas.ts";
import { initBackend } from "../backend/backend.ts";
import { workerErrorData } from "../data/prefetch.ts";
import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
import type { Param } from "../model/params.ts";
import { frozenNames } from "./freeze.ts";
import { type BatchEval, evalBatchTensors } from "./evaluate.ts";
import { microBatchGrads, microBatchRng } from "./micro_grads.ts";
import { type ReplicaReply, type ReplicaRequest, weightViews } from "./replicas.ts";

let model: VisionTransformer | null = null;
/** The parameters the trainer differentiates (train.freeze), so gradients line up with its own. */
let trainable: Param[] = [];
let init: Extract<ReplicaRequest, { kind: "init" }> | null = null;
/** Views of the trainer's shared weights buffer, one per parameter in order. */
let weights: Float32Array[] = [];

self.onmessage = async (e: MessageEvent<ReplicaRequest>) => {
  const m = e.data;
  let current: number | null = null;
  try {
    if (m.kind === "init") {
      init = m;
      await initBackend(m.backend);
      capBlasThreads(1);
      model = new VisionTransformer(vitShapeFromConfig(m.config), m.config.train.seed);
      const frozen = frozenNames(model.params.list().map((p) => p.name), m.config.train.freeze);
      trainable = model.params.list().filter((p) => !frozen.has(p.name));
      self.postMessage({ kind: "ready" } satisfies ReplicaReply);
      return;
    }
    if (m.weights) weights = weightViews(m.weights);
    const params = model!.params.list();
    params.forEach((p, i) => {
      // tf.tensor copies the values into this replica's memory before the step begins.
      const values = tf.tensor(weights[i]!, p.variable.shape, "float32");
      p.variable.assign(values);
      values.dispose();
    });
    if (m.kind === "eval") {
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
    const results: Extract<ReplicaReply, { kind: "result" }>["results"] = [];
    const buffers: ArrayBuffer[] = [];
    for (const job of m.parts) {
      current = job.m;
      const rng = microBatchRng(init!.config.train.seed, m.epoch, m.globalStep, job.m);
      const r = tf.tidy(() =>
        microBatchGrads(model!, init!.shape, job.part, rng, job.weight, init!.config.train.label_smoothing, trainable)
      );
      const grads = new Float32Array(r.grads.reduce((n, g) => n + g.size, 0));
      let offset = 0;
      for (const g of r.grads) {
        grads.set(g.dataSync() as Float32Array, offset);
        offset += g.size;
      }
      const [loss, correct] = [r.loss.dataSync()[0]!, r.correct.dataSync()[0]!];
      tf.dispose([r.loss, r.correct, ...r.grads]);
      results.push({ m: job.m, loss, correct, grads });
      buffers.push(grads.buffer);
    }
    self.postMessage({ kind: "result", token: m.token, results } satisfies ReplicaReply, buffers);
  } catch (err) {
    // Sent as data: Deno would otherwise print an "Uncaught (in worker)" trace of its own.
    self.postMessage({ kind: "error", m: current, error: workerErrorData(err) } satisfies ReplicaReply);
  }
};
