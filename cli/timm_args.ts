/** `timm-args`: what timm needs to load a run's checkpoints, as JSON or a Python call on stdout. */
import { statSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../lib/config/load.ts";
import { timmArgs } from "../lib/model/timm_args.ts";
import { RUN_FILES } from "../lib/runs/run_dir.ts";

/**
 * @param run a run directory, or a config file
 * @param flags `--python` prints `timm.models.VisionTransformer(...)` instead of JSON
 */
export function timmArgsCommand(run: string, flags: { python?: boolean }): void {
  let isDir = false;
  try {
    isDir = statSync(run).isDirectory();
  } catch { /* loadConfig names the missing file */ }
  const args = timmArgs(loadConfig(isDir ? join(run, RUN_FILES.config) : run));
  if (!flags.python) {
    console.log(JSON.stringify(args));
    return;
  }
  const py = (v: unknown) => typeof v === "boolean" ? (v ? "True" : "False") : JSON.stringify(v);
  console.log(`timm.models.VisionTransformer(${Object.entries(args).map(([k, v]) => `${k}=${py(v)}`).join(", ")})`);
}
