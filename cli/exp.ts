/** `exp`: train a config's ViT; the run directory goes to stdout, the rest to stderr. */
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/runs/experiment.ts";
import { Progress, say } from "./progress.ts";

/** Flags of `exp`. */
export interface ExpFlags {
  set: string[];
  name?: string;
  backend?: string;
  runsDir: string;
  quiet?: boolean;
}

/**
 * @param configPath the YAML config
 * @param flags parsed flags
 * @param argv the full command line, recorded in env.json
 */
export async function exp(configPath: string, flags: ExpFlags, argv: string[]): Promise<void> {
  const config = loadConfig(configPath, {
    overrides: flags.set,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
  });
  const progress = new Progress(flags.quiet ?? false);
  const { runDir, summary } = await runExperiment(config, {
    runsDir: flags.runsDir,
    command: argv,
    events: {
      onStart(info) {
        const skipped = info.backend.skipped.length ? ` (passed over: ${info.backend.skipped.join("; ")})` : "";
        say(`backend ${info.backend.name}: ${info.backend.device}${skipped}\n`);
        say(
          `model ${
            info.paramCount.toLocaleString("en-US")
          } parameters; train ${info.trainCount}, val ${info.valCount}, ${info.stepsPerEpoch} steps/epoch\n`,
        );
        say(`run directory ${info.runDir}\n`);
      },
      onStep: (e) => progress.step(e),
      onEpoch: (row, best) => progress.epoch(row, config.train.epochs, best),
    },
  });
  progress.clear();
  const acc = summary.best_val_acc === null ? "n/a" : summary.best_val_acc.toFixed(4);
  say(`done in ${summary.wall_seconds.toFixed(1)} s; best val_acc ${acc} at epoch ${summary.best_epoch ?? "n/a"}\n`);
  console.log(runDir);
}
