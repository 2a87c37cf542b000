/**
 * Model checkpoints as timm-compatible safetensors: timm's names and layouts, float32, with the
 * resolved config and the epoch in `__metadata__`.
 */
import { CheckpointError } from "../errors.ts";
import { assignFromTimm, toTimmLayout } from "../model/params.ts";
import type { VisionTransformer } from "../model/vit.ts";
import type { MetricsRow } from "./metrics.ts";
import { type NamedArray, readSafetensors, writeSafetensors } from "./safetensors.ts";

/**
 * The model's weights in timm's layout.
 * @param model the model
 * @returns one array per parameter
 */
export async function modelTensors(model: VisionTransformer): Promise<NamedArray[]> {
  const out: NamedArray[] = [];
  for (const param of model.params.list()) {
    const data = (await param.variable.data()) as Float32Array;
    out.push({ name: param.name, shape: [...param.timmShape], data: toTimmLayout(param, data) });
  }
  return out;
}

/**
 * The metadata an epoch's checkpoints carry: the config they were trained with and the epoch's
 * validation, in one order so the same epoch always writes the same bytes.
 * @param config the config text and its hash
 * @param row the epoch's metrics row
 * @returns `__metadata__` strings
 */
export function epochMetadata(
  config: { config: string; config_hash: string },
  row: MetricsRow,
): Record<string, string> {
  return {
    config: config.config,
    config_hash: config.config_hash,
    epoch: String(row.epoch),
    step: String(row.step),
    val_acc: String(row.val_acc),
    val_loss: String(row.val_loss),
  };
}

/**
 * Saves the weights atomically.
 * @param path destination `.safetensors`
 * @param model the model
 * @param metadata strings for `__metadata__` (config, epoch, metrics)
 * @example
 * ```ts
 * import { initBackend } from "../backend/backend.ts";
 * import { configFromObject } from "../config/load.ts";
 * import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
 * import { saveCheckpoint } from "./checkpoint.ts";
 * await initBackend("cpu");
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 8, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3 },
 * });
 * const model = new VisionTransformer(vitShapeFromConfig(config), 0);
 * const path = `${Deno.makeTempDirSync()}/model.safetensors`;
 * await saveCheckpoint(path, model, { epoch: "1" });
 * if (Deno.statSync(path).size < model.paramCount() * 4) throw new Error("wrong");
 * model.dispose();
 * ```
 */
export async function saveCheckpoint(
  path: string,
  model: VisionTransformer,
  metadata: Record<string, string>,
): Promise<void> {
  writeSafetensors(path, await modelTensors(model), { format: "pt", ...metadata });
}

/**
 * Loads weights into a model of the same shape.
 * @param path the `.safetensors` file
 * @param model a freshly built model
 * @param tensors the file's tensors when already read (a state file passes its weights)
 * @returns the file's metadata
 * @throws {CheckpointError} when the file is unreadable or does not fit the model; the model is
 *   left unchanged in that case
 * @example
 * ```ts
 * import { initBackend } from "../backend/backend.ts";
 * import { configFromObject } from "../config/load.ts";
 * import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * await initBackend("cpu");
 * const config = configFromObject({
 *   model: { patch_size: 4, d_model: 8, depth: 1, heads: 2 },
 *   data: { dataset: "synthetic", image_size: 8, num_classes: 3 },
 * });
 * const path = `${Deno.makeTempDirSync()}/model.safetensors`;
 * const saved = new VisionTransformer(vitShapeFromConfig(config), 0);
 * await saveCheckpoint(path, saved, { epoch: "1" });
 * const loaded = new VisionTransformer(vitShapeFromConfig(config), 1); // other seed, other weights
 * const metadata = loadCheckpoint(path, loaded);
 * const [a, b] = [saved, loaded].map((m) => m.params.get("head.weight").dataSync().join());
 * if (metadata.epoch !== "1" || a !== b) throw new Error("wrong");
 * ```
 */
export function loadCheckpoint(
  path: string,
  model: VisionTransformer,
  tensors?: Map<string, NamedArray>,
): Record<string, string> {
  const file = tensors ? { tensors, metadata: {} } : readSafetensors(path);
  const missing = model.params.list().filter((s) => !file.tensors.has(s.name)).map((s) => s.name);
  if (missing.length) {
    throw new CheckpointError(
      `${path}: checkpoint lacks ${missing.length} parameter(s) of the model, e.g. '${missing[0]}'`,
    );
  }
  const known = new Set(model.params.list().map((s) => s.name));
  const extra = [...file.tensors.keys()].filter((k) => !known.has(k));
  if (extra.length) {
    throw new CheckpointError(
      `${path}: checkpoint has ${extra.length} parameter(s) the model lacks, e.g. '${extra[0]}'`,
    );
  }
  // Check every shape before assigning any, so a mismatch leaves the model untouched.
  for (const spec of model.params.list()) {
    const t = file.tensors.get(spec.name)!;
    if (t.shape.join(",") !== spec.timmShape.join(",")) {
      throw new CheckpointError(
        `${path}: '${spec.name}' has shape [${t.shape}] in the checkpoint but [${spec.timmShape}] in the model (different model config?)`,
      );
    }
  }
  for (const spec of model.params.list()) {
    assignFromTimm(spec, file.tensors.get(spec.name)!.data);
  }
  return file.metadata;
}
