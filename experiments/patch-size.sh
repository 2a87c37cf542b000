#!/usr/bin/env bash
# Patch size on MNIST: 2, 4 and 7 pixels, i.e. 196, 49 and 16 tokens per 28×28 digit (each
# divides 28). Smaller patches see finer detail and cost more: attention grows with the square
# of the token count. Everything else is the base config's.
#
#   experiments/patch-size.sh                                   # the full sweep (slow on a CPU: see the estimate)
#   PATCHES="4 7" EXTRA="--set data.subset=6000 --set train.epochs=3" experiments/patch-size.sh
#   JOBS=2 COMPARE="--format md --plot patch-size.svg" experiments/patch-size.sh
#
# Patch 2 with vit-small's batch of 128 needs more memory than the wasm backend has; on a CPU
# give it a smaller batch (EXTRA="--set train.batch_size=32") or leave it out.
# Settings (CONFIG, EXTRA, RUNS_DIR, JOBS, COMPARE, NAME): see _sweep.sh.
NAME=${NAME:-patch-size}
# shellcheck source=_sweep.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_sweep.sh"

RUNS=()
for p in ${PATCHES:-2 4 7}; do RUNS+=("--set model.patch_size=$p"); done
sweep "$@"
