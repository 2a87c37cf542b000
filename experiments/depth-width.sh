#!/usr/bin/env bash
# Depth × width: a grid over model.depth and model.d_model (9 runs by default). Which buys more
# accuracy per parameter and per second on this data, more blocks or wider tokens?
# d_model must divide by model.heads (4 in vit-small).
#
#   experiments/depth-width.sh
#   DEPTHS="2 4" WIDTHS="32 64" JOBS=2 EXTRA="--set data.subset=6000" experiments/depth-width.sh
#
# Settings (CONFIG, EXTRA, RUNS_DIR, JOBS, COMPARE, NAME): see _sweep.sh.
# experiments/slurm-array.sh runs the same grid as a Slurm job array.
NAME=${NAME:-depth-width}
# shellcheck source=_sweep.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_sweep.sh"

depth_width_runs
sweep "$@"
