/** The config schema as rows of a table, for `vitlab keys` and the README. */
import { DATASET_INFO } from "./dataset_info.ts";
import { type FieldSpec, SCHEMA, type Section } from "./schema.ts";

/** One key's row. */
export interface KeyRow {
  key: string;
  type: string;
  default: string;
  doc: string;
}

/**
 * @returns one row per config key, in schema order
 * @example
 * ```ts
 * import { describeKeys } from "./describe.ts";
 * const depth = describeKeys().find((r) => r.key === "model.depth");
 * if (!depth) throw new Error("model.depth is missing");
 * ```
 */
export function describeKeys(): KeyRow[] {
  const rows: KeyRow[] = [];
  for (const section of Object.keys(SCHEMA) as Section[]) {
    for (const [key, spec] of Object.entries(SCHEMA[section] as Record<string, FieldSpec>)) {
      rows.push({ key: `${section}.${key}`, type: _type(spec), default: _default(spec), doc: spec.doc });
    }
  }
  return rows;
}

/** @returns the datasets' defaults as `name: 28×28×1, 10 classes` lines */
export function describeDatasets(): string[] {
  return Object.entries(DATASET_INFO).map(([name, i]) =>
    `${name}: ${i.image_size}×${i.image_size}×${i.channels}, ${i.num_classes} classes, mean ${i.mean}, std ${i.std}`
  );
}

function _type(spec: FieldSpec): string {
  const n = spec.nullable ? " or null" : "";
  switch (spec.kind) {
    case "enum":
      return spec.values.join(" \\| ");
    case "floats":
      return `list of numbers${n}`;
    case "strings":
      return "list of strings";
    case "int":
      return `integer${n}`;
    case "float":
      return `number${n}`;
    default:
      return `${spec.kind}${n}`;
  }
}

function _default(spec: FieldSpec): string {
  const d = spec.default;
  if (d === null) return "null";
  if (Array.isArray(d)) return `[${d.join(", ")}]`;
  return String(d);
}
