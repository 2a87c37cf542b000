/**
 * `model.init_from`: a new run's weights from a trained model — another vitlab run or a file
 * saved from timm — with timm's loading rules: names and shapes strict, except the adaptations
 * timm makes when it loads a checkpoint into a model of another shape, each said in one line.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CheckpointError, ConfigError, fileErrorReason } from "../errors.ts";
import { assignFromTimm, type Param } from "../model/params.ts";
import { adaptInputConv, resampleAbsPosEmbed, resamplePatchEmbed } from "../model/resample.ts";
import type { VisionTransformer } from "../model/vit.ts";
import { RUN_FILES } from "./run_dir.ts";
import { decodeSafetensors, type NamedArray } from "./safetensors.ts";

/** What {@linkcode initFromCheckpoint} did. */
export interface InitReport {
  /** `model.init_from` as given. */
  source: string;
  /** The file read: the source itself, or a run directory's best checkpoint. */
  file: string;
  /** SHA-256 of the file's bytes, hex. */
  sha256: string;
  /** Tensors of the model set from the file (adapted ones included). */
  loaded: number;
  /** One line per adaptation or tensor left out, in the order made. */
  messages: string[];
}

/** Options of {@linkcode initFromCheckpoint}. */
export interface InitOptions {
  /** `model.init_strict`: tensors missing from the file or the model are an error (default true). */
  strict?: boolean;
}

/**
 * Sets a freshly built model's weights from a trained model's. The tensors the file cannot give
 * (a head of another class count; with `strict: false`, tensors it lacks) keep the model's own
 * seeded initialisation.
 * @param model the model, as built from the run's config and seed
 * @param source a run directory (its `checkpoints/best.safetensors`) or a `.safetensors` file in timm's layout
 * @param options strictness
 * @returns the file, its hash and what was adapted
 * @throws {ConfigError} when the source does not exist or is a directory without a best checkpoint
 * @throws {CheckpointError} when the file is unreadable or does not fit the model; the model is
 *   then left unchanged
 * @example
 * ```ts
 * import { initBackend } from "../backend/backend.ts";
 * import { configFromObject } from "../config/load.ts";
 * import { VisionTransformer, vitShapeFromConfig } from "../model/vit.ts";
 * import { saveCheckpoint } from "./checkpoint.ts";
 * import { initFromCheckpoint } from "./init_from.ts";
 * await initBackend("cpu");
 * const model = (size: number, classes: number) =>
 *   new VisionTransformer(vitShapeFromConfig(configFromObject({
 *     model: { patch_size: 4, d_model: 8, depth: 1, heads: 2 },
 *     data: { dataset: "synthetic", image_size: size, num_classes: classes },
 *   })), 0);
 * const path = `${Deno.makeTempDirSync()}/source.safetensors`;
 * await saveCheckpoint(path, model(8, 3), {});
 * const report = initFromCheckpoint(model(16, 5), path); // another grid, another class count
 * if (report.messages.length !== 2 || report.sha256.length !== 64) throw new Error("wrong");
 * ```
 */
export function initFromCheckpoint(model: VisionTransformer, source: string, options: InitOptions = {}): InitReport {
  const file = _resolveSource(source);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CheckpointError(`${file}: cannot read model.init_from (${fileErrorReason(err)})`);
  }
  const { tensors } = decodeSafetensors(bytes, file);
  const plan = _planInit(model, tensors, options.strict ?? true, file);
  for (const [name, data] of plan.values) assignFromTimm(model.params.param(name), data);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { source, file, sha256, loaded: plan.values.size, messages: plan.messages };
}

/** A model parameter and what the file holds under its name. */
interface _Pair {
  param: Param;
  file: NamedArray;
}

/** What to load: each parameter's new values in timm's layout, and what was said about it. */
interface _Plan {
  values: Map<string, Float32Array>;
  messages: string[];
}

/**
 * Matches the file's tensors to the model's, adapting what timm adapts; checks everything before
 * anything is assigned. Throws a CheckpointError listing the missing, unexpected and mis-shaped.
 */
function _planInit(
  model: VisionTransformer,
  tensors: ReadonlyMap<string, NamedArray>,
  strict: boolean,
  file: string,
): _Plan {
  const plan: _Plan = { values: new Map(), messages: [] };
  const params = model.params.list();
  const missing = params.filter((p) => !tensors.has(p.name));
  const known = new Set(params.map((p) => p.name));
  const unexpected = [...tensors.values()].filter((t) => !known.has(t.name));
  const misShaped: _Pair[] = [];
  const pairs = params.filter((p) => tensors.has(p.name)).map((param) => ({ param, file: tensors.get(param.name)! }));
  const head = pairs.filter((p) => /^head\.(weight|bias)$/.test(p.param.name));
  const newHead = _headChanged(head);
  if (newHead) plan.messages.push(newHead);
  for (const pair of pairs) {
    if (newHead && head.includes(pair)) continue;
    const values = _sameShape(pair) ? pair.file.data : _adapt(pair, model, plan.messages);
    if (values === null) misShaped.push(pair);
    else plan.values.set(pair.param.name, values);
  }
  if (misShaped.length || (strict && (missing.length || unexpected.length))) {
    throw new CheckpointError(_misfit(file, missing, unexpected, misShaped, strict));
  }
  if (missing.length) {
    plan.messages.push(
      `${_names(missing)}: not in the file; freshly initialised (model.init_strict: false)${
        _poolHint(missing, unexpected)
      }`,
    );
  }
  if (unexpected.length) {
    plan.messages.push(`${_names(unexpected)}: not used by the model; dropped (model.init_strict: false)`);
  }
  return plan;
}

function _sameShape({ param, file }: _Pair): boolean {
  return file.shape.join(",") === param.timmShape.join(",");
}

/** A head of another class count (same width) is started fresh, as timm's `reset_classifier`. */
function _headChanged(head: _Pair[]): string | null {
  const weight = head.find((p) => p.param.name === "head.weight");
  if (!weight || head.every(_sameShape)) return null;
  const [k, d] = weight.file.shape as [number, number];
  const [modelK, modelD] = weight.param.timmShape as [number, number];
  if (weight.file.shape.length !== 2 || d !== modelD || k === modelK) return null;
  return `head.weight, head.bias: the file's head has ${k} classes, the model's ${modelK}; head freshly initialised`;
}

/** The values of a tensor of another shape that timm knows how to fit, or null. */
function _adapt(pair: _Pair, model: VisionTransformer, messages: string[]): Float32Array | null {
  if (pair.param.name === "pos_embed") return _adaptPosEmbed(pair, model, messages);
  if (pair.param.name === "patch_embed.proj.weight") return _adaptPatchEmbed(pair, messages);
  return null;
}

function _adaptPosEmbed({ file }: _Pair, model: VisionTransformer, messages: string[]): Float32Array | null {
  const [one, tokens, d] = file.shape as [number, number, number];
  const g = Math.round(Math.sqrt(tokens - 1));
  if (file.shape.length !== 3 || one !== 1 || d !== model.shape.dModel || g * g !== tokens - 1) return null;
  const newGrid = model.patchEmbed.gridSize;
  messages.push(
    `pos_embed: resampled from a ${g}×${g} grid to ${newGrid}×${newGrid}, bicubic as timm's resample_abs_pos_embed (class token's row kept)`,
  );
  return resampleAbsPosEmbed(file.data, d, newGrid);
}

function _adaptPatchEmbed({ param, file }: _Pair, messages: string[]): Float32Array | null {
  const [o, c, p, q] = file.shape as [number, number, number, number];
  const [modelO, modelC, modelP] = param.timmShape as [number, number, number, number];
  if (file.shape.length !== 4 || o !== modelO || p !== q) return null;
  let values = file.data;
  if (c !== modelC) {
    values = adaptInputConv(values, o, c, modelC);
    const how = modelC === 1 ? "summed over channels" : "repeated and scaled";
    messages.push(`patch_embed.proj.weight: ${c} input channel(s) to ${modelC}, ${how} as timm's adapt_input_conv`);
  }
  if (p !== modelP) {
    values = resamplePatchEmbed(values, o * modelC, p, modelP);
    messages.push(
      `patch_embed.proj.weight: ${p}×${p} patches to ${modelP}×${modelP}, pseudo-inverse resize as timm's resample_patch_embed`,
    );
  }
  return values;
}

function _misfit(
  file: string,
  missing: Param[],
  unexpected: NamedArray[],
  misShaped: _Pair[],
  strict: boolean,
): string {
  const shape = (s: readonly number[]) => `[${s.join(", ")}]`;
  const parts: string[] = [];
  if (strict && missing.length) {
    parts.push(`missing ${missing.map((p) => `${p.name} ${shape(p.timmShape)}`).join(", ")}`);
  }
  if (strict && unexpected.length) {
    parts.push(`unexpected ${unexpected.map((t) => `${t.name} ${shape(t.shape)}`).join(", ")}`);
  }
  if (misShaped.length) {
    const each = misShaped.map((p) =>
      `${p.param.name} ${shape(p.file.shape)} in the file, ${shape(p.param.timmShape)} in the model`
    );
    parts.push(`mis-shaped ${each.join(", ")}`);
  }
  const hint = strict && !misShaped.length
    ? "; model.init_strict=false starts missing tensors fresh and drops unexpected ones"
    : "";
  return `${file}: does not fit the model (model.init_from): ${parts.join("; ")}${
    _poolHint(missing, unexpected)
  }${hint}`;
}

/** `norm` in the file and `fc_norm` in the model (or the other way): the file's model pooled the other way. */
function _poolHint(missing: readonly { name: string }[], unexpected: readonly { name: string }[]): string {
  const has = (list: readonly { name: string }[], prefix: string) => list.some((t) => t.name.startsWith(prefix));
  if (has(missing, "fc_norm.") && has(unexpected, "norm.")) {
    return " (the file's model used cls pooling: model.pool=cls)";
  }
  if (has(missing, "norm.") && has(unexpected, "fc_norm.")) {
    return " (the file's model used mean pooling: model.pool=mean)";
  }
  return "";
}

function _names(list: readonly { name: string }[]): string {
  return list.map((t) => t.name).join(", ");
}

/** A run directory stands for its best checkpoint. */
function _resolveSource(source: string): string {
  let isDir: boolean;
  try {
    isDir = statSync(source).isDirectory();
  } catch (err) {
    throw new ConfigError(`model.init_from: '${source}': ${fileErrorReason(err)}`);
  }
  if (!isDir) return source;
  const best = join(source, RUN_FILES.best);
  if (!existsSync(best)) {
    throw new ConfigError(
      `model.init_from: '${source}' is a directory without ${RUN_FILES.best} (expected a run directory that finished an epoch, or a .safetensors file)`,
    );
  }
  return best;
}
