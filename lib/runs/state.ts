/**
 * The training state of a run in one file, `checkpoints/state.safetensors`: weights, optimizer
 * moments and the position in the run (epoch, step, random-stream state, partial sums, best).
 *
 * One file, written atomically, so weights and optimizer can never disagree after a crash.
 * The weights-only `last`/`best` checkpoints stay loadable by timm, which rejects extra keys.
 */
import * as tf from "@tensorflow/tfjs-core";
import { CheckpointError } from "../errors.ts";
import { internalShape } from "../model/params.ts";
import type { VisionTransformer } from "../model/vit.ts";
import type { ModelEma } from "../train/ema.ts";
import type { VitOptimizer } from "../train/optimizer.ts";
import type { EpochProgress } from "../train/trainer.ts";
import { loadCheckpoint, modelTensors } from "./checkpoint.ts";
import { checkStoredState } from "./state_check.ts";
import type { MetricsRow } from "./metrics.ts";
import { type NamedArray, readSafetensors, writeSafetensors } from "./safetensors.ts";

/** Where a run stands. */
export interface TrainingState {
  /** Epochs fully trained and validated. */
  completedEpochs: number;
  /** Position inside epoch `completedEpochs` when stopped part-way; null at an epoch boundary. */
  progress: EpochProgress | null;
  /** Best validation so far. */
  best: { epoch: number; val_acc: number | null; val_loss: number | null } | null;
  /** metrics.csv row of the last completed epoch, to restore it if the CSV missed it. */
  lastRow: MetricsRow | null;
  /**
   * Every completed epoch's metrics row, so that metrics.csv can be rebuilt from the state
   * alone; states written before vitlab kept them lack it.
   */
  rows?: MetricsRow[];
  /** Hash of the config's fields that shape the trajectory (see resume). */
  trajectoryHash: string;
  /** Seconds of training before this state, summed over sessions. */
  wallSeconds: number;
}

const _OPT = "optimizer.";
const _EMA = "ema.";

/**
 * Writes the state atomically.
 * @param path destination
 * @param model the model
 * @param optimizer its optimizer
 * @param state the position
 * @param config the resolved config as YAML, for humans reading the file
 * @param ema the weights' moving average, if kept
 */
export async function saveState(
  path: string,
  model: VisionTransformer,
  optimizer: VitOptimizer,
  state: TrainingState,
  config: string,
  ema: ModelEma | null = null,
): Promise<void> {
  const tensors: NamedArray[] = await modelTensors(model);
  for (const [name, t] of ema?.shadow ?? []) {
    tensors.push({ name: `${_EMA}${name}`, shape: t.shape, data: (await t.data()) as Float32Array });
  }
  const { step, slots } = optimizer.state();
  for (const [name, list] of slots) {
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      // Slots are kept in vitlab's layout: they never leave vitlab, so no conversion.
      tensors.push({ name: `${_OPT}${name}.${i}`, shape: t.shape, data: (await t.data()) as Float32Array });
    }
  }
  writeSafetensors(path, tensors, {
    format: "vitlab-state",
    vitlab_state: JSON.stringify({ ...state, optimizerStep: step }),
    config,
  });
}

/**
 * Restores weights and optimizer from a state file.
 * @param path the state file
 * @param model a freshly built model of the run's shape
 * @param optimizer a fresh optimizer for it
 * @param ema the moving average to restore, if kept
 * @returns the position to continue from
 * @throws {CheckpointError} when the file is unreadable or does not fit the model
 */
export function loadState(
  path: string,
  model: VisionTransformer,
  optimizer: VitOptimizer,
  ema: ModelEma | null = null,
): TrainingState {
  const file = readSafetensors(path);
  if (file.metadata.format !== "vitlab-state" || !file.metadata.vitlab_state) {
    throw new CheckpointError(`${path}: not a vitlab training state (no vitlab_state metadata)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(file.metadata.vitlab_state);
  } catch {
    throw new CheckpointError(`${path}: vitlab_state metadata is not valid JSON`);
  }
  const meta = checkStoredState(parsed, path);
  const weights = new Map([...file.tensors].filter(([k]) => !k.startsWith(_OPT) && !k.startsWith(_EMA)));
  if (ema) {
    const values = new Map<string, tf.Tensor>();
    for (const spec of model.params.list()) {
      const t = file.tensors.get(`${_EMA}${spec.name}`);
      if (!t) {
        throw new CheckpointError(
          `${path}: no moving average of '${spec.name}' (train.ema_decay was 0 when it was written?)`,
        );
      }
      values.set(spec.name, tf.tensor(t.data, t.shape, "float32"));
    }
    ema.load(values);
    tf.dispose([...values.values()]);
  }
  const slots = new Map<string, tf.Tensor[]>();
  for (const spec of model.params.list()) {
    const list: tf.Tensor[] = [];
    for (let i = 0; file.tensors.has(`${_OPT}${spec.name}.${i}`); i++) {
      const t = file.tensors.get(`${_OPT}${spec.name}.${i}`)!;
      if (t.shape.join(",") !== internalShape(spec).join(",")) {
        tf.dispose([...slots.values()].flat());
        throw new CheckpointError(
          `${path}: optimizer slot of '${spec.name}' has shape [${t.shape}], model needs [${internalShape(spec)}]`,
        );
      }
      list.push(tf.tensor(t.data, t.shape, "float32"));
    }
    if (list.length) slots.set(spec.name, list);
  }
  loadCheckpoint(path, model, weights);
  optimizer.setState(meta.optimizerStep, slots);
  tf.dispose([...slots.values()].flat());
  const { optimizerStep: _, ...state } = meta;
  return state;
}
