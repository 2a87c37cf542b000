/** `exp`: train a config's ViT; the run directory goes to stdout, the rest to stderr. */
import { loadConfig } from "../lib/config/load.ts";
import { UsageError } from "../lib/errors.ts";
import {
  type ExperimentEvents,
  type ExperimentResult,
  resumeExperiment,
  runExperiment,
} from "../lib/runs/experiment.ts";
import { loadRerunConfig } from "../lib/runs/rerun.ts";
import { Progress, say } from "./progress.ts";
import { onStopSignals } from "./signals.ts";

/** Flags of `exp`. */
export interface ExpFlags {
  set: string[];
  name?: string;
  backend?: string;
  runsDir: string;
  quiet?: boolean;
  rerun?: string;
  resume?: string;
}

/**
 * @param configPath the YAML config (absent with --rerun or --resume)
 * @param flags parsed flags
 * @param argv the full command line, recorded in env.json
 */
export async function exp(configPath: string | undefined, flags: ExpFlags, argv: string[]): Promise<void> {
  const sources = [configPath, flags.rerun, flags.resume].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    throw new UsageError("exp: give exactly one of a config file, --rerun <run-dir> or --resume <run-dir>");
  }
  const progress = new Progress(flags.quiet ?? false);
  const events = _events(progress);
  const controller = new AbortController();
  const stop = onStopSignals(controller, () => progress.clear());
  let result: ExperimentResult;
  try {
    if (flags.resume !== undefined) {
      if (flags.name !== undefined) throw new UsageError("--name cannot be used with --resume: the run keeps its name");
      const overrides = [...flags.set, ...(flags.backend !== undefined ? [`run.backend=${flags.backend}`] : [])];
      result = await resumeExperiment(flags.resume, { overrides, command: argv, events, signal: controller.signal });
    } else {
      const loadOptions = {
        overrides: flags.set,
        ...(flags.name !== undefined ? { name: flags.name } : {}),
        ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
      };
      const config = flags.rerun !== undefined
        ? loadRerunConfig(flags.rerun, loadOptions)
        : loadConfig(configPath!, loadOptions);
      result = await runExperiment(config, {
        runsDir: flags.runsDir,
        command: argv,
        events,
        signal: controller.signal,
        ...(flags.rerun !== undefined ? { rerunOf: flags.rerun } : {}),
      });
    }
  } finally {
    stop();
    progress.clear();
  }
  const { runDir, summary } = result;
  const acc = summary.best_val_acc === null ? "n/a" : summary.best_val_acc.toFixed(4);
  say(`done in ${summary.wall_seconds.toFixed(1)} s; best val_acc ${acc} at epoch ${summary.best_epoch ?? "n/a"}\n`);
  console.log(runDir);
}

/** What the user sees while a run goes on: the start lines, the progress bar, warnings. */
function _events(progress: Progress): ExperimentEvents {
  let epochs = 0;
  return {
    onStart(info) {
      say(`backend ${info.backend.name}: ${info.backend.device}\n`);
      if (info.backend.skipped.length) say(`  passed over: ${info.backend.skipped.join("; ")}\n`);
      for (const hint of info.backend.hints) say(`  faster: ${hint}\n`);
      const count = info.paramCount.toLocaleString("en-US");
      say(
        `model ${count} parameters; train ${info.trainCount}, val ${info.valCount}, ${info.stepsPerEpoch} steps/epoch` +
          (info.replicas > 1 ? `, micro-batches on ${info.replicas} replicas\n` : "\n"),
      );
      if (info.init) {
        const { file, sha256, loaded, messages } = info.init;
        say(`weights from ${file} (sha256 ${sha256.slice(0, 12)}…): ${loaded} tensors loaded\n`);
        for (const line of messages) say(`  ${line}\n`);
      }
      const at = info.resumedAt ? ` (resuming at epoch ${info.resumedAt.epoch}, step ${info.resumedAt.step})` : "";
      say(`run directory ${info.runDir}${at}\n`);
    },
    onStep: (e) => {
      epochs = e.epochs;
      progress.step(e);
    },
    onEpoch: (row, best) => progress.epoch(row, epochs || row.epoch, best),
    onWarning: (message) => {
      progress.clear();
      say(`warning: ${message}\n`);
    },
  };
}
