/**
 * Loading a config: YAML files (with `extends`), `--set key=value` overrides, validation and
 * dataset defaults, in that order. Every error is a one-line {@linkcode ConfigError} that names
 * the file (with line and column where there is one), the key path and what was expected.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { isMap, LineCounter, parse as parseYaml, parseDocument } from "yaml";
import { ConfigError, fileErrorReason, firstLine } from "../errors.ts";
import { DATASET_INFO } from "./dataset_info.ts";
import {
  type Config,
  type ConfigInput,
  defaultConfig,
  type FieldSpec,
  SCHEMA,
  type Section,
  VARIANTS,
} from "./schema.ts";

type Raw = Record<string, Record<string, unknown>>;

/** Where a layer of config came from, to name it in errors. */
interface Layer {
  source: string;
  values: Raw;
  /** Maps "section.key" to "file:line:col" for error messages. */
  where: Map<string, string>;
}

const SECTIONS = Object.keys(SCHEMA) as Section[];

/** Options of {@linkcode loadConfig}. */
export interface LoadOptions {
  /** `key.path=value` overrides, applied last in order. */
  overrides?: string[];
  /** Overrides `run.name` (the CLI's `--name`). */
  name?: string;
  /** Overrides `run.backend` (the CLI's `--backend`). */
  backend?: string;
}

/**
 * Loads, merges and validates a config file.
 * @param path YAML file; `extends:` inside it is resolved relative to it
 * @param options overrides applied after the file
 * @returns the fully resolved config, dataset defaults filled in
 * @throws {ConfigError} on any problem, naming file, key and expectation
 * @example
 * ```ts
 * import { loadConfig } from "./load.ts";
 * const path = `${Deno.makeTempDirSync()}/tiny.yaml`;
 * Deno.writeTextFileSync(path, "model: {depth: 2}\n");
 * const config = loadConfig(path, { overrides: ["train.epochs=3"] });
 * if (config.model.depth !== 2 || config.train.epochs !== 3 || config.run.name !== "tiny") throw new Error("wrong");
 * ```
 */
export function loadConfig(path: string, options: LoadOptions = {}): Config {
  const layers = _readFileLayers(path, []);
  const extra = [...(options.overrides ?? [])];
  if (options.name !== undefined) extra.push(`run.name=${JSON.stringify(options.name)}`);
  if (options.backend !== undefined) extra.push(`run.backend=${options.backend}`);
  layers.push(...extra.map(parseOverride));
  const config = resolveConfig(layers);
  if (config.run.name === null) config.run.name = basename(path, extname(path));
  return config;
}

/**
 * Resolves a config from plain objects (no file): defaults, then each object, then overrides.
 * @param values partial configs, later ones win
 * @param overrides `key.path=value` strings
 * @returns the resolved config
 * @throws {ConfigError} on any problem
 * @example
 * ```ts
 * import { configFromObject } from "./load.ts";
 * const config = configFromObject({ model: { depth: 2 } }, ["train.lr=0.01"]);
 * if (config.model.depth !== 2 || config.train.lr !== 0.01 || config.data.image_size !== 28) throw new Error("wrong");
 * ```
 */
export function configFromObject(values: unknown, overrides: string[] = []): Config {
  const layer = _layerFromValue(values, "<object>", new Map());
  return resolveConfig([layer, ...overrides.map(parseOverride)]);
}

/**
 * Parses one `--set` override into a config layer.
 * @param text `section.key=value`; the value is read as YAML (`5e-4`, `true`, `[0.5, 0.5]`)
 * @returns a layer with that single value
 * @throws {ConfigError} on bad syntax or an unknown key
 */
export function parseOverride(text: string): Layer {
  const source = `--set ${text}`;
  const eq = text.indexOf("=");
  if (eq <= 0) {
    throw new ConfigError(`${source}: expected key.path=value, e.g. --set model.depth=8`);
  }
  const path = text.slice(0, eq).trim();
  const rawValue = text.slice(eq + 1);
  const parts = path.split(".");
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new ConfigError(`${source}: expected a key of the form section.key, got '${path}'`);
  }
  let value: unknown;
  try {
    value = rawValue.trim() === "" ? null : parseYaml(rawValue);
  } catch (err) {
    throw new ConfigError(`${source}: value is not valid YAML: ${firstLine(err)}`);
  }
  return _layerFromValue({ [parts[0]]: { [parts[1]]: value } }, source, new Map());
}

/**
 * Merges layers over the defaults, validates and fills dataset defaults.
 * @param layers validated partial configs, base first
 * @returns the resolved config
 */
export function resolveConfig(layers: Layer[]): Config {
  const config = defaultConfig() as unknown as Raw;
  for (const layer of layers) {
    for (const [section, values] of Object.entries(layer.values)) {
      for (const [key, value] of Object.entries(values)) config[section]![key] = value;
    }
  }
  const input = config as unknown as ConfigInput;
  _applyVariant(input, layers);
  const resolved = _fillDatasetDefaults(input);
  _checkCrossField(resolved, layers);
  return resolved;
}

/**
 * Replaces `model.variant` by the keys it stands for. A key that any layer sets itself wins over
 * the variant, as timm's `create_model` keyword arguments win over the name's defaults.
 */
function _applyVariant(config: ConfigInput, layers: Layer[]): void {
  const text = config.model.variant;
  delete (config.model as { variant?: unknown }).variant;
  if (text === null) return;
  const m = /^(mu|ti|s|b)(?:\/(\d+))?$/i.exec(text.trim());
  if (!m) {
    const where = [...layers].reverse().find((l) => l.values.model && "variant" in l.values.model);
    const at = where?.where.get("model.variant") ?? where?.source ?? "defaults";
    throw new ConfigError(
      `${at}: model.variant: expected one of ${
        Object.keys(VARIANTS).join(", ")
      }, optionally with /PATCH (e.g. ti/4), got '${text}'`,
    );
  }
  const values: Record<string, number> = { ...VARIANTS[m[1]!.toLowerCase()]! };
  if (m[2] !== undefined) values.patch_size = Number(m[2]);
  const model = config.model as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(values)) {
    if (!layers.some((l) => l.values.model && key in l.values.model)) model[key] = value;
  }
}

function _readFileLayers(path: string, chain: string[]): Layer[] {
  const file = resolve(path);
  if (chain.includes(file)) {
    throw new ConfigError(`${path}: 'extends' forms a cycle: ${[...chain, file].join(" -> ")}`);
  }
  const text = _readConfigText(path, file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = lineCounter.linePos(err.pos[0]);
    throw new ConfigError(`${path}:${pos.line}:${pos.col}: YAML syntax error: ${firstLine(err)}`);
  }
  const where = new Map<string, string>();
  const root = doc.contents;
  if (isMap(root)) {
    for (const item of root.items) {
      const section = String((item.key as { value?: unknown })?.value ?? item.key);
      const sectionPos = _pos(lineCounter, item.key, path);
      where.set(section, sectionPos);
      if (isMap(item.value)) {
        for (const inner of item.value.items) {
          const key = String((inner.key as { value?: unknown })?.value ?? inner.key);
          where.set(`${section}.${key}`, _pos(lineCounter, inner.value ?? inner.key, path));
        }
      }
    }
  }
  let value: unknown;
  try {
    // toJS expands aliases, and refuses (with maxAliasCount) a file that would expand without bound.
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    throw new ConfigError(`${path}: YAML cannot be expanded: ${firstLine(err)}`);
  }
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${path}: expected a mapping of sections (model, data, train, run) at the top level`);
  }
  const record = value as Record<string, unknown>;
  const layers: Layer[] = [];
  if ("extends" in record) {
    const base = record.extends;
    if (typeof base !== "string" || base === "") {
      throw new ConfigError(`${where.get("extends") ?? path}: extends: expected a file path, got ${_show(base)}`);
    }
    layers.push(..._readFileLayers(resolve(dirname(file), base), [...chain, file]));
    delete record.extends;
  }
  layers.push(_layerFromValue(record, path, where));
  return layers;
}

/** Config files are small text files; anything else (a FIFO, a device, 50 MB) is refused unread. */
export const MAX_CONFIG_BYTES = 1 << 20;

function _readConfigText(path: string, file: string): string {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(file);
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${fileErrorReason(err)})`);
  }
  if (!info.isFile) {
    const what = info.isDirectory ? "is a directory" : "not a regular file (a pipe or a device?)";
    throw new ConfigError(`${path}: cannot read config file (${what})`);
  }
  if (info.size > MAX_CONFIG_BYTES) {
    throw new ConfigError(`${path}: config file is ${info.size} bytes; a config holds at most ${MAX_CONFIG_BYTES}`);
  }
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${fileErrorReason(err)})`);
  }
}

function _pos(counter: LineCounter, node: unknown, path: string): string {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  if (!range) return path;
  const p = counter.linePos(range[0]);
  return `${path}:${p.line}:${p.col}`;
}

function _layerFromValue(value: unknown, source: string, where: Map<string, string>): Layer {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(`${source}: expected a mapping of sections (model, data, train, run)`);
  }
  const values: Raw = {};
  for (const [section, inner] of Object.entries(value)) {
    if (!SECTIONS.includes(section as Section)) {
      const hint = _didYouMean(section, [...SECTIONS, "extends"]);
      throw new ConfigError(`${where.get(section) ?? source}: unknown section '${section}'${hint}`);
    }
    if (inner === null) continue;
    if (typeof inner !== "object" || Array.isArray(inner)) {
      throw new ConfigError(
        `${where.get(section) ?? source}: ${section}: expected a mapping of keys, got ${_show(inner)}`,
      );
    }
    const fields = SCHEMA[section as Section] as Record<string, FieldSpec>;
    values[section] = {};
    for (const [key, v] of Object.entries(inner as Record<string, unknown>)) {
      const path = `${section}.${key}`;
      // Own keys only: `constructor` or `__proto__` must not find Object.prototype's members.
      const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
      const at = where.get(path) ?? source;
      if (!spec) {
        const all = SECTIONS.flatMap((s) => Object.keys(SCHEMA[s]).map((k) => `${s}.${k}`));
        throw new ConfigError(`${at}: unknown key '${path}'${_didYouMean(path, all)}`);
      }
      values[section][key] = _checkValue(v, spec, path, at);
    }
  }
  return { source, values, where };
}

function _checkValue(value: unknown, spec: FieldSpec, path: string, at: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`${at}: ${path}: expected ${expected}, got ${_show(value)}`);
  };
  if (value === null) {
    if (spec.nullable) return null;
    return fail(_describe(spec));
  }
  switch (spec.kind) {
    case "int":
    case "float": {
      if (typeof value !== "number" || !Number.isFinite(value)) return fail(_describe(spec));
      if (spec.kind === "int" && !Number.isInteger(value)) return fail(_describe(spec));
      _checkRange(value, spec, () => fail(_describe(spec)));
      return value;
    }
    case "bool":
      return typeof value === "boolean" ? value : fail("true or false");
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) {
        const hint = typeof value === "string" ? _didYouMean(value, [...spec.values]) : "";
        throw new ConfigError(`${at}: ${path}: expected one of ${spec.values.join(", ")}, got ${_show(value)}${hint}`);
      }
      return value;
    case "string":
      return typeof value === "string" && value !== "" ? value : fail("a non-empty string");
    case "count":
      if (value === "auto") return value;
      return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= spec.max
        ? value
        : fail(_describe(spec));
    case "strings":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) return fail("a list of strings");
      return [...value];
    case "choice_or_strings":
      if (typeof value === "string" && spec.values.includes(value)) return value;
      if (Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "")) return [...value];
      return fail(_describe(spec));
    case "floats": {
      if (!Array.isArray(value) || value.length === 0) return fail(_describe(spec));
      if (spec.length !== undefined && value.length !== spec.length) return fail(_describe(spec));
      for (const v of value) {
        if (typeof v !== "number" || !Number.isFinite(v)) return fail(_describe(spec));
        _checkRange(v, spec, () => fail(_describe(spec)));
      }
      return [...value];
    }
  }
}

function _checkRange(
  v: number,
  spec: { min?: number; max?: number; exclusiveMin?: boolean },
  fail: () => never,
): void {
  if (spec.min !== undefined && (spec.exclusiveMin ? v <= spec.min : v < spec.min)) fail();
  if (spec.max !== undefined && v > spec.max) fail();
}

function _describe(spec: FieldSpec): string {
  const range = (s: { min?: number; max?: number; exclusiveMin?: boolean }) => {
    const lo = s.min === undefined ? "" : `${s.exclusiveMin ? ">" : "≥"} ${s.min}`;
    const hi = s.max === undefined ? "" : `≤ ${s.max}`;
    return [lo, hi].filter(Boolean).join(" and ");
  };
  const orNull = spec.nullable ? " (or null)" : "";
  switch (spec.kind) {
    case "int":
      return `an integer ${range(spec)}${orNull}`.replace(/ +\(/, " (").trim();
    case "float":
      return `a number ${range(spec)}${orNull}`.replace(/ +\(/, " (").trim();
    case "floats": {
      const n = spec.length === undefined ? "" : `${spec.length} `;
      const r = range(spec);
      return `a list of ${n}numbers${r ? ` each ${r}` : ""}${orNull}`;
    }
    case "bool":
      return "true or false";
    case "enum":
      return `one of ${spec.values.join(", ")}`;
    case "string":
      return `a string${orNull}`;
    case "strings":
      return "a list of strings";
    case "choice_or_strings":
      return `one of ${spec.values.join(", ")}, or a list of non-empty strings`;
    case "count":
      return `auto or an integer ≥ 1 and ≤ ${spec.max}`;
  }
}

function _fillDatasetDefaults(config: ConfigInput): Config {
  const info = DATASET_INFO[config.data.dataset];
  const d = config.data;
  d.image_size ??= info.image_size;
  const channels = d.channels ??= info.channels;
  d.num_classes ??= info.num_classes;
  d.mean ??= Array.from({ length: channels }, (_, i) => info.mean[i % info.mean.length]!);
  d.std ??= Array.from({ length: channels }, (_, i) => info.std[i % info.std.length]!);
  // Every field the resolved type promises is now set; the object keeps its key order.
  return config as Config;
}

function _checkCrossField(c: Config, layers: Layer[]): void {
  // Name the layer that set the key last, so the user knows which file to edit.
  const at = (path: string): string => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!;
      const [s, k] = path.split(".") as [string, string];
      if (layer.values[s] && k in layer.values[s]) return layer.where.get(path) ?? layer.source;
    }
    return "defaults";
  };
  const fail = (path: string, message: string): never => {
    throw new ConfigError(`${at(path)}: ${message}`);
  };
  _checkDataset(c, fail);
  _checkModel(c, fail);
  const name = c.run.name;
  if (name !== null && !/^(?!-)(?=.*\S)[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]+$/u.test(name)) {
    fail(
      "run.name",
      `run.name: expected one line of printable characters, not starting with '-', got ${JSON.stringify(name)}`,
    );
  }
  if (c.train.micro_batch > 0 && c.train.batch_size % c.train.micro_batch !== 0) {
    fail(
      "train.micro_batch",
      `train.micro_batch: train.batch_size (${c.train.batch_size}) must divide by it, got ${c.train.micro_batch}`,
    );
  }
  if (c.train.min_lr > c.train.lr) {
    fail("train.min_lr", `train.min_lr (${c.train.min_lr}) must not exceed train.lr (${c.train.lr})`);
  }
  if (c.train.warmup_epochs > c.train.epochs) {
    fail(
      "train.warmup_epochs",
      `train.warmup_epochs (${c.train.warmup_epochs}) must not exceed train.epochs (${c.train.epochs})`,
    );
  }
}

type _Fail = (path: string, message: string) => never;

/** A dataset of fixed shape keeps it; file-backed datasets need their folder; one mean/std per channel. */
function _checkDataset(c: Config, fail: _Fail): void {
  const d = c.data;
  const info = DATASET_INFO[d.dataset];
  if (!info.resizable && d.image_size !== info.image_size) {
    fail(
      "data.image_size",
      `data.image_size: ${d.dataset} images are ${info.image_size}×${info.image_size}, got ${d.image_size}`,
    );
  }
  if (!info.resizable && d.channels !== info.channels) {
    fail("data.channels", `data.channels: ${d.dataset} images have ${info.channels} channel(s), got ${d.channels}`);
  }
  if (!info.resizable && d.num_classes !== info.num_classes) {
    fail("data.num_classes", `data.num_classes: ${d.dataset} has ${info.num_classes} classes, got ${d.num_classes}`);
  }
  if (d.path === null && ["cifar10", "cifar100", "idx", "folder"].includes(d.dataset)) {
    const hint = d.dataset.startsWith("cifar") ? ` (deno task data ${d.dataset} DIR downloads it)` : "";
    fail("data.dataset", `data.path: dataset ${d.dataset} reads its files from data.path, which is not set${hint}`);
  }
  for (const key of ["mean", "std"] as const) {
    if (d[key].length !== d.channels) {
      fail(`data.${key}`, `data.${key}: expected ${d.channels} value(s), one per channel, got ${d[key].length}`);
    }
  }
}

/** Patches tile the image, heads split d_model, and the MLP has at least one hidden unit. */
function _checkModel(c: Config, fail: _Fail): void {
  const m = c.model;
  if (c.data.image_size % m.patch_size !== 0) {
    fail(
      "model.patch_size",
      `model.patch_size: image size (${c.data.image_size}) must be divisible by patch size (${m.patch_size})`,
    );
  }
  if (m.d_model % m.heads !== 0) {
    fail("model.heads", `model.heads: d_model (${m.d_model}) must be divisible by heads (${m.heads})`);
  }
  if (Math.round(m.d_model * m.mlp_ratio) < 1) {
    fail(
      "model.mlp_ratio",
      `model.mlp_ratio: d_model × mlp_ratio (${m.d_model} × ${m.mlp_ratio}) rounds to an MLP of 0 units; it must be at least 1`,
    );
  }
}

function _didYouMean(word: string, candidates: string[]): string {
  // A key that contains what was typed ('augment.mixup' → 'augment.mixup_alpha') beats edit distance.
  const [section, key] = word.includes(".") ? word.split(".", 2) as [string, string] : ["", word];
  const containing = candidates
    .filter((c) => c.startsWith(section) && key.length >= 3 && c.split(".").pop()!.includes(key))
    .sort((a, b) => a.length - b.length);
  if (containing.length) return ` (did you mean '${containing[0]}'?)`;
  let best = "";
  let bestDist = Infinity;
  for (const c of candidates) {
    // Compare against the key alone too, so 'model.dpth' and 'dpth' both find 'model.depth'.
    const d = Math.min(_levenshtein(word, c), _levenshtein(word, c.split(".").pop()!) + 1);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  return bestDist <= Math.max(2, Math.floor(word.length / 3)) ? ` (did you mean '${best}'?)` : "";
}

function _levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function _show(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (Array.isArray(value)) return `[${value.map(_show).join(", ")}]`;
  if (value && typeof value === "object") return "a mapping";
  return String(value);
}
