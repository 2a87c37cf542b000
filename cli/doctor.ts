/** `doctor`: what this machine can train on; the report on stdout, optionally as a Markdown file. */
import { runDoctor } from "../lib/doctor/doctor.ts";
import { doctorMarkdown, doctorText } from "../lib/doctor/format.ts";
import { loadConfig } from "../lib/config/load.ts";
import { RunError, UsageError } from "../lib/errors.ts";
import { writeFileAtomic } from "../lib/runs/atomic.ts";
import { say } from "./progress.ts";

/** Flags of `doctor`. */
export interface DoctorFlags {
  config: string;
  steps: string;
  warmup: string;
  set: string[];
  report?: string;
  format: string;
}

/**
 * @param flags parsed flags
 * @throws {RunError} after printing the report, when no backend loads or a bench failed
 */
export async function doctor(flags: DoctorFlags): Promise<void> {
  const steps = _int("--steps", flags.steps, 0);
  const warmup = _int("--warmup", flags.warmup, 0);
  if (!["text", "md", "json"].includes(flags.format)) {
    throw new UsageError(`--format: expected text, md or json, got '${flags.format}'`);
  }
  const config = loadConfig(flags.config, { overrides: flags.set });
  const report = await runDoctor({
    config,
    configPath: flags.config,
    steps,
    warmup,
    onProgress: (what) => say(`doctor: ${what}\n`),
  });
  if (flags.report !== undefined) {
    writeFileAtomic(flags.report, doctorMarkdown(report));
    say(`doctor: wrote ${flags.report}\n`);
  }
  const out = flags.format === "json"
    ? JSON.stringify(report, null, 2)
    : flags.format === "md"
    ? doctorMarkdown(report)
    : doctorText(report);
  console.log(out.trimEnd());
  if (!report.backends.some((b) => b.loads)) throw new RunError("doctor: no backend loads on this machine");
  const failed = report.bench.filter((b) => b.error !== undefined);
  if (failed.length) {
    throw new RunError(`doctor: the bench failed on ${failed.map((b) => `${b.backend} (${b.error})`).join(", ")}`);
  }
}

function _int(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer ≥ ${min}, got '${value}'`);
  return n;
}
