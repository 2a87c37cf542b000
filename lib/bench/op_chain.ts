/**
 * What one kernel costs on webgpu before the GPU does any work: a chain of `tf.add` on a
 * 4-value tensor, timed per op with a given number of kernels per queue submit. The chain ends
 * with a read-back, which is checked, so a batching that loses work cannot look fast.
 */
import * as tf from "@tensorflow/tfjs-core";
import { roundTo } from "../stats.ts";

/** One batching's cost. */
export interface OpChainCost {
  /** Kernels per queue submit (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE). */
  batch: number;
  /** Best of the repeats, µs per op, the final read-back included. */
  us_per_op: number;
  /** Whether every repeat read back the value the chain must give. */
  correct: boolean;
}

/** Options of {@linkcode opChainCost}. */
export interface OpChainOptions {
  /** Batchings to time, in turn, in this process. */
  batches: number[];
  /** Adds per chain. */
  ops: number;
  /** Adds before timing, per batching (pipelines compiled, buffer pool filled). */
  warmup: number;
  /** Timed chains per batching; the best counts. */
  repeats: number;
}

/**
 * Times add chains on the active backend (meant for webgpu) and restores its batching after.
 * @param o batchings and sizes
 * @returns one cost per batching, in order
 * @example
 * ```ts
 * import { initBackend } from "../backend/backend.ts";
 * import { opChainCost } from "./op_chain.ts";
 * await initBackend("cpu");
 * const [cost] = await opChainCost({ batches: [15], ops: 20, warmup: 5, repeats: 1 });
 * if (!cost!.correct) throw new Error("wrong sum");
 * ```
 */
export async function opChainCost(o: OpChainOptions): Promise<OpChainCost[]> {
  const env = tf.env();
  // Only webgpu registers these flags (getFlags() would list only those read so far).
  const flags = ["WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", "WEBGPU_CPU_FORWARD"].filter(_registered);
  const saved = flags.map((f) => [f, env.get(f)] as const);
  const out: OpChainCost[] = [];
  try {
    // Small tensors would otherwise run on the CPU: the chain must dispatch every add.
    if (flags.includes("WEBGPU_CPU_FORWARD")) env.set("WEBGPU_CPU_FORWARD", false);
    for (const batch of o.batches) {
      if (flags.includes("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE")) env.set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
      await _chain(o.warmup);
      let best = Infinity;
      let correct = true;
      for (let r = 0; r < o.repeats; r++) {
        const t0 = performance.now();
        correct &&= await _chain(o.ops);
        best = Math.min(best, performance.now() - t0);
      }
      out.push({ batch, us_per_op: roundTo((best * 1000) / o.ops, 2), correct });
    }
  } finally {
    for (const [f, v] of saved) env.set(f, v);
  }
  return out;
}

function _registered(flag: string): boolean {
  try {
    tf.env().get(flag);
    return true;
  } catch {
    return false;
  }
}

/** Adds 1 to [0, 1, 2, 3] `ops` times; @returns whether it read back [ops, ops+1, ops+2, ops+3] */
async function _chain(ops: number): Promise<boolean> {
  const one = tf.ones([4]);
  let x: tf.Tensor = tf.tensor1d([0, 1, 2, 3]);
  for (let i = 0; i < ops; i++) {
    const next = tf.add(x, one);
    x.dispose();
    x = next;
  }
  const values = await x.data();
  tf.dispose([x, one]);
  return Array.from(values).every((v, i) => v === ops + i);
}
