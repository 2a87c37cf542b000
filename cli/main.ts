/**
 * The vitlab command line. It only declares commands; each action lazily imports its handler,
 * which calls the library. One top-level catch turns errors into a message and an exit code:
 * 2 for usage/config errors, 1 for run failures; a stack trace only with --debug.
 */
import { Command, CommanderError, Option } from "commander";
import { firstLine, InterruptedError, VitlabError } from "../lib/errors.ts";
import { BACKENDS } from "../lib/config/schema.ts";
import { addCheckpointOptions } from "./checkpoint_flags.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * Builds the program.
 * @param argv the arguments, recorded in run directories
 * @returns a commander program whose actions run the handlers
 */
export function buildProgram(argv: string[]): Command {
  const program = new Command("vitlab")
    .description("Reproducible Vision Transformer experiments")
    .option("--debug", "show stack traces on errors")
    .exitOverride()
    // One line, in the same form as vitlab's own errors.
    .configureOutput({ outputError: (text, write) => write(`vitlab: ${text.trim()} (see --help)\n`) });
  _expCommand(program, argv);
  _evalCommand(program);
  _vizCommand(program);
  _benchCommand(program);
  _doctorCommand(program);
  _setupCommand(program);
  _compareCommand(program);
  _dataCommand(program);
  _timmArgsCommand(program);
  _keysCommand(program);
  return program;
}

/** Declares `exp`; its handler (exp.ts) is imported only when the command runs. */
function _expCommand(program: Command, argv: string[]): void {
  program.command("exp")
    .description("train the ViT a YAML config declares; prints the run directory on stdout")
    .argument("[config]", "YAML config file (or use --rerun / --resume)")
    .option("--rerun <run-dir>", "start a new run from that run's config.yaml")
    .option("--resume <run-dir>", "continue that run exactly where it stopped")
    .option("--set <key=value>", "override a config key, e.g. --set model.depth=8 (repeatable)", collect, [])
    .option("--name <name>", "run group name (run.name)")
    .addOption(new Option("--backend <name>", "tfjs backend (run.backend)").choices([...BACKENDS]))
    .option("--runs-dir <dir>", "root of run directories", "runs")
    .option("--quiet", "one line per epoch, no live progress bar")
    .option("--debug", "show stack traces on errors")
    .action(async (config: string | undefined, flags) => {
      const { exp } = await import("./exp.ts");
      await exp(config, flags, argv);
    });
}

/** Declares `eval`; its handler (eval.ts) is imported only when the command runs. */
function _evalCommand(program: Command): void {
  const command = program.command("eval")
    .description("evaluate a run's checkpoint; prints JSON on stdout")
    .argument("<run-dir>", "a run directory");
  addCheckpointOptions(command)
    .option("--predictions <file.csv>", "write index,label,prediction,logit_0.. per example")
    .option("--no-record", "do not keep the result in the run's evals.json (for compare)")
    .action(async (runDir: string, flags) => {
      const { evalRun } = await import("./eval.ts");
      await evalRun(runDir, flags);
    });
}

/** Declares `viz`; its handler (viz.ts) is imported only when the command runs. */
function _vizCommand(program: Command): void {
  const command = program.command("viz")
    .description("draw attention maps, the ViT paper's figures and the errors of a run's checkpoint; prints the folder")
    .argument("<run-dir>", "a run directory");
  addCheckpointOptions(command)
    .option("--images <n>", "images drawn with their attention, and errors drawn (1-64; default 16)")
    .option("--out <dir>", "output folder (default <run-dir>/viz)")
    .action(async (runDir: string, flags) => {
      const { viz } = await import("./viz.ts");
      await viz(runDir, flags);
    });
}

/** Declares `bench`; its handler (bench.ts) is imported only when the command runs. */
function _benchCommand(program: Command): void {
  program.command("bench")
    .description("time training steps on random data; one JSON line per config and backend on stdout")
    .argument("[configs...]", "configs whose models and batch sizes are timed (default configs/vit-small.yaml)")
    .option("--backend <name>", "backend to time (repeatable; default auto)", collect, [])
    .option("--steps <n>", "timed steps (the median is reported)", "20")
    .option("--warmup <n>", "untimed steps first", "3")
    .option("--set <key=value>", "override a config key (repeatable)", collect, [])
    .option("--compare-pytorch", "also time ../shared/bench/torch_vit.py (python3-torch) on the same shape")
    .option("--peak", "also measure float32 matmul peaks: the backend's and numpy/BLAS's")
    .option("--profile", "also give one step's kernel time by kernel (kernel_profile; a table with --format md)")
    .option(
      "--vs-one-replica",
      "with replicas, also time the steps on one thread, in alternating blocks (replica_speedup)",
    )
    .option("--format <fmt>", "json (a line per config and backend) or md (one Markdown table)", "json")
    .option("--debug", "show stack traces on errors")
    .action(async (configs: string[], flags) => {
      const { bench } = await import("./bench.ts");
      await bench(configs.length ? configs : ["configs/vit-small.yaml"], flags);
    });
}

/** Declares `doctor`; its handler (doctor.ts) is imported only when the command runs. */
function _doctorCommand(program: Command): void {
  program.command("doctor")
    .description("what this machine trains on: runtime, backends (and fixes), WebGPU adapters, bindings, a bench each")
    .option("--config <file>", "config whose model and batch size are timed", "configs/vit-small.yaml")
    .option("--steps <n>", "timed steps per usable backend (0: no bench)", "20")
    .option("--warmup <n>", "untimed steps first", "3")
    .option("--set <key=value>", "override a config key of the bench (repeatable)", collect, [])
    .option("--report <file.md>", "also write the report as Markdown to this file")
    .option("--format <fmt>", "text, md or json on stdout", "text")
    .option("--debug", "show stack traces on errors")
    .action(async (flags) => {
      const { doctor } = await import("./doctor.ts");
      await doctor(flags);
    });
}

/** Declares `setup`; its handler (setup.ts) is imported only when the command runs. */
function _setupCommand(program: Command): void {
  program.command("setup")
    .description("build the tensorflow / tensorflow-gpu backend from a libtensorflow 2.9.1 you supply")
    .argument("<backend>", "tensorflow or tensorflow-gpu")
    .option("--libtensorflow <path>", "libtensorflow(-gpu)-linux-x86_64-2.9.1.tar.gz, or its unpacked folder")
    .option("--debug", "show stack traces on errors")
    .action(async (backend: string, flags) => {
      const { setup } = await import("./setup.ts");
      await setup(backend, flags);
    });
}

/** Declares `compare`; its handler (compare.ts) is imported only when the command runs. */
function _compareCommand(program: Command): void {
  program.command("compare")
    .description("compare runs: the config keys that differ and their metrics, one row per run, on stdout")
    .argument("[paths...]", "run directories or folders above them (default: runs)")
    .option("--sort <column>", "sort by a column or config key; append :asc or :desc to choose the order", "val_acc")
    .option("--format <format>", "table, csv, json or md", "table")
    .option("--plot <file>", "write learning curves to FILE.svg or FILE.png")
    .option("--group-by <key>", "one row per group of runs differing only in this config key, with mean ± std")
    .option("--verbose", "list the folders skipped as not runs")
    .option("--debug", "show stack traces on errors")
    .action(async (paths: string[], flags) => {
      const { compare } = await import("./compare.ts");
      await compare(paths, flags);
    });
}

/** Declares `data`; its handler (data.ts) is imported only when the command runs. */
function _dataCommand(program: Command): void {
  program.command("data")
    .description("download or prepare a dataset; prints its folder on stdout")
    .argument("<name>", "cifar10, cifar100 or fashion-mnist")
    .argument("[dir]", "folder to download into (CIFAR); the cache folder for fashion-mnist")
    .option("--url <url>", "download from this address (a mirror) instead of the official one")
    .option("--md5 <hex>", "expected MD5 of the archive, with --url")
    .option("--quiet", "no progress output")
    .option("--debug", "show stack traces on errors")
    .action(async (name: string, dir: string | undefined, flags) => {
      const { data } = await import("./data.ts");
      await data(name, dir, flags);
    });
}

/** Declares `timm-args`; its handler (timm_args.ts) is imported only when the command runs. */
function _timmArgsCommand(program: Command): void {
  program.command("timm-args")
    .description("the keyword arguments timm's VisionTransformer needs for a run's checkpoints (JSON on stdout)")
    .argument("<run-dir>", "a run directory (or a config file)")
    .option("--python", "print a Python call instead of JSON")
    .option("--debug", "show stack traces on errors")
    .action(async (run: string, flags) => {
      const { timmArgsCommand } = await import("./timm_args.ts");
      timmArgsCommand(run, flags);
    });
}

/** Declares `keys`; its handler (keys.ts) is imported only when the command runs. */
function _keysCommand(program: Command): void {
  program.command("keys")
    .description("list every config key with its type, default and why (Markdown)")
    .option("--write <page>", "regenerate the table between the keys markers of this page (docs/configuration.md)")
    .option("--debug", "show stack traces on errors")
    .action(async (flags) => {
      const { keys } = await import("./keys.ts");
      keys(flags);
    });
}

/**
 * Runs the CLI.
 * @param argv arguments after the program name
 * @returns the exit code
 */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  try {
    await buildProgram(argv).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message; help and version exit 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof InterruptedError) {
      console.error(`vitlab: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof VitlabError) {
      console.error(`vitlab: error: ${err.message}`);
      if (debug) console.error(err.stack);
      return err.exitCode;
    }
    const message = firstLine(err);
    console.error(`vitlab: error: ${message}${debug ? "" : " (rerun with --debug for details)"}`);
    if (debug) console.error(err instanceof Error ? err.stack : err);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
