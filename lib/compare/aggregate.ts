/**
 * `--group-by`: runs that differ only in one key (typically `train.seed`) become one row with
 * the mean ± sample standard deviation of each metric.
 */
import { UsageError } from "../errors.ts";
import { SAME_RESULT_KEYS } from "../runs/resume_rules.ts";
import { differingKeys } from "./diff_keys.ts";
import { configText, type ConfigValue } from "./flatten.ts";
import type { RunRecord } from "./read_run.ts";
import {
  allKeys,
  type Cell,
  type Column,
  type ComparisonTable,
  evalAcc,
  evalColumns,
  type MeanStd,
  withEvalColumns,
} from "./table.ts";

/**
 * @param values numbers; non-finite ones and nulls are left out
 * @returns their mean and sample standard deviation (n − 1; null for fewer than two values)
 * @example
 * ```ts
 * import { meanStd } from "./aggregate.ts";
 * const s = meanStd([1, 2, 3, null]);
 * if (s.mean !== 2 || s.std !== 1 || s.n !== 3) throw new Error("wrong");
 * ```
 */
export function meanStd(values: (number | null)[]): MeanStd {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const n = xs.length;
  const mean = n ? xs.reduce((s, v) => s + v, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : null;
  return { mean, std, n };
}

/**
 * One row per group of runs whose configs are equal apart from `key` and the keys that change
 * no result ({@linkcode SAME_RESULT_KEYS}: seeds trained with 1 and 2 workers are one group).
 * Columns: the other differing config keys (a same-result key, like `key`, as the list of
 * values the group holds), `key` (the values the group holds), `runs`, the
 * mean ± std of params, epochs, val_acc, the recorded evaluations (`ema_test_acc`, … where some
 * run has one), val_loss, wall_s and img_s, the statuses, and the run ids in CSV/JSON.
 * @param runs the runs (with ids)
 * @param key the config key to aggregate over, e.g. `train.seed`
 * @returns the table, groups in the order their first run was found
 * @throws {UsageError} when no run has that config key
 * @example
 * ```ts
 * import { groupTable } from "./aggregate.ts";
 * import { runStats } from "./read_run.ts";
 * const run = (id: string, seed: number, acc: number) => {
 *   const config = { "model.depth": 2, "train.seed": seed };
 *   const stats = { ...runStats(config, [], null), bestValAcc: acc };
 *   return { dir: id, id, config, metrics: [], summary: null, evals: {}, status: "completed", stats, warnings: [] };
 * };
 * const table = groupTable([run("a", 0, 0.8), run("b", 1, 0.9)], "train.seed");
 * const acc = table.rows[0]?.val_acc as { mean: number; n: number };
 * if (table.rows.length !== 1 || Math.abs(acc.mean - 0.85) > 1e-12 || acc.n !== 2) throw new Error("wrong");
 * ```
 */
export function groupTable(runs: RunRecord[], key: string): ComparisonTable {
  const configKeys = allKeys(runs);
  if (!configKeys.includes(key)) {
    const hint = differingKeys(runs.map((r) => r.config)).slice(0, 5);
    throw new UsageError(
      `--group-by: '${key}' is not a config key of these runs${
        hint.length ? ` (they differ in ${hint.join(", ")})` : ""
      }`,
    );
  }
  const keys = differingKeys(runs.map((r) => r.config), [key]);
  const splitting = keys.filter((k) => !SAME_RESULT_KEYS.includes(k));
  const evals = evalColumns(runs);
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const id = JSON.stringify(splitting.map((k) => (k in run.config ? configText(run.config[k]) : null)));
    groups.set(id, [...(groups.get(id) ?? []), run]);
  }
  const rows = [...groups.values()].map((members): Record<string, Cell> => {
    const first = members[0]!;
    const statuses = new Map<string, number>();
    for (const r of members) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    return {
      // A same-result key holds a list, like `key`: one type per column in JSON.
      ...Object.fromEntries(keys.map((k) => [k, splitting.includes(k) ? first.config[k] : _valuesHeld(members, k)])),
      [key]: _valuesHeld(members, key),
      runs: members.length,
      params: meanStd(members.map((r) => r.stats.params)),
      epochs: meanStd(members.map((r) => r.stats.epochsDone)),
      val_acc: meanStd(members.map((r) => r.stats.bestValAcc)),
      ...Object.fromEntries(evals.map((c) => [c.key, meanStd(members.map((r) => evalAcc(r, c.key)))])),
      val_loss: meanStd(members.map((r) => r.stats.finalValLoss)),
      wall_s: meanStd(members.map((r) => r.stats.wallSeconds)),
      img_s: meanStd(members.map((r) => r.stats.imagesPerSecond)),
      status: [...statuses].map(([s, n]) => `${n} ${s}`).join(", "),
      run: members.map((r) => r.id),
    };
  });
  const stats: Column[] = [
    { key: "params", kind: "stat", digits: 0 },
    { key: "epochs", kind: "stat", digits: 1 },
    { key: "val_acc", kind: "stat", digits: 4, better: "high" },
    { key: "val_loss", kind: "stat", digits: 4, better: "low" },
    { key: "wall_s", kind: "stat", digits: 1, better: "low" },
    { key: "img_s", kind: "stat", digits: 0, better: "high" },
  ];
  const columns: Column[] = [
    ...keys.map((k): Column => ({ key: k, kind: "config" })),
    { key, kind: "config" },
    { key: "runs", kind: "integer" },
    ...withEvalColumns(stats, "val_acc", evals.map((c): Column => ({ ...c, kind: "stat" }))),
    { key: "status", kind: "text" },
    { key: "run", kind: "config", only: "machine" },
  ];
  return { columns, rows, keys, configKeys };
}

/** The distinct values of `key` in `members`, sorted (a missing key counts as null). */
function _valuesHeld(members: RunRecord[], key: string): ConfigValue[] {
  const byText = new Map(members.map((r) => [configText(r.config[key] ?? null), r.config[key] ?? null]));
  return [...byText.values()].sort(_byValue);
}

function _byValue(a: ConfigValue | undefined, b: ConfigValue | undefined): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return configText(a).localeCompare(configText(b), "en", { numeric: true });
}
