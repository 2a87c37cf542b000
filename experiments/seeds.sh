#!/usr/bin/env bash
# One config over 5 seeds: how much of a difference between two runs is noise? Every random
# choice (init, split, shuffling, dropout) follows train.seed. Ends with the per-run table and
# the mean ± std over the seeds (compare --group-by train.seed).
#
#   experiments/seeds.sh
#   SEEDS="0 1 2" CONFIG=configs/vit-tiny.yaml JOBS=2 experiments/seeds.sh --set model.depth=4
#
# Settings (CONFIG, EXTRA, RUNS_DIR, JOBS, COMPARE, NAME): see _sweep.sh.
NAME=${NAME:-seeds}
# shellcheck source=_sweep.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_sweep.sh"

RUNS=()
for seed in ${SEEDS:-0 1 2 3 4}; do RUNS+=("--set train.seed=$seed"); done
SWEEP_GROUP_BY=train.seed
sweep "$@"
