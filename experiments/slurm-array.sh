#!/usr/bin/env bash
#SBATCH --job-name=vitlab-sweep
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%A_%a.out
# The depth × d_model grid of depth-width.sh as a Slurm job array: one run per array task,
# every task writing its run directory under RUNS_DIR, which must be on a filesystem all nodes
# share. Run directory names never collide, even for identical configs started in the same
# second on different nodes: each is created with an exclusive mkdir (atomic on NFS and Lustre
# too), and the loser takes the next `-1`, `-2` suffix.
#
# On the login node, from anywhere in the repository:
#   experiments/slurm-array.sh                       # submits the array, then a compare job after it
#   DEPTHS="2 4" WIDTHS="64" MAX_PARALLEL=4 EXTRA="--set train.epochs=20" experiments/slurm-array.sh
# It prints the array's job id; when every task has ended (finished or not), the compare job
# writes the table to $RUNS_DIR/$NAME/compare.md and the curves to $RUNS_DIR/$NAME/curves.svg.
# Each task's output goes to $RUNS_DIR/$NAME/slurm-<job>_<task>.out.
#
# A cancelled or timed-out task (scancel, --time) stops its run as `interrupted`. Continue it
# where it stopped, then refresh the table, rather than submitting the task again (which would
# leave the partial run beside a new one):
#   deno task exp --resume <its run directory, printed in its slurm-*.out>
#   deno task compare $RUNS_DIR/$NAME --format md > $RUNS_DIR/$NAME/compare.md
#
# Inside an array task (SLURM_ARRAY_TASK_ID is set) it trains run number SLURM_ARRAY_TASK_ID of
# the grid and prints its run directory (in slurm-<job>_<task>.out).
# Settings: DEPTHS, WIDTHS, MAX_PARALLEL (tasks at once, default all), SBATCH_ARGS (more sbatch
# options, e.g. "--partition=gpu --gres=gpu:1"), and CONFIG, EXTRA, RUNS_DIR, NAME as in _sweep.sh.
# NAME defaults to depth-width-<time of submission>, so that compare sees exactly this sweep.

# sbatch runs a copy of this script from its spool folder: inside a task, the repository is the
# folder the submission exported (VITLAB_ROOT), or the one sbatch was called from (or above it).
if [ -n "${VITLAB_ROOT:-}" ]; then
  root=$VITLAB_ROOT
elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  root=${SLURM_SUBMIT_DIR:-$PWD}
  while [ ! -f "$root/experiments/_sweep.sh" ] && [ "$root" != / ]; do root=$(dirname "$root"); done
else
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
NAME=${NAME:-depth-width-$(date -u +%Y%m%d-%H%M%S)}
# shellcheck source=_sweep.sh source-path=SCRIPTDIR
source "$root/experiments/_sweep.sh"

depth_width_runs

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # One array task: one run of the grid.
  if [ "$SLURM_ARRAY_TASK_ID" -ge "${#RUNS[@]}" ]; then
    echo "array task $SLURM_ARRAY_TASK_ID: the grid has only ${#RUNS[@]} runs (0-$((${#RUNS[@]} - 1)))" >&2
    exit 2
  fi
  cd "$root"
  read -r -a args <<<"${RUNS[$SLURM_ARRAY_TASK_ID]}"
  label=${RUNS[$SLURM_ARRAY_TASK_ID]//--set /}
  sweep_one "${label// /,}" "${args[@]}" "${SWEEP_EXTRA[@]}" "$@"
  exit
fi

# On the login node: check every config and print the estimate, then submit.
cd "$root"
SWEEP_EXTRA+=("$@")
echo "$NAME: ${#RUNS[@]} runs of $CONFIG into $RUNS_DIR/$NAME as a Slurm job array" >&2
for run in "${RUNS[@]}"; do printf '%s%s\n' "$run" "${SWEEP_EXTRA[*]:+ ${SWEEP_EXTRA[*]}}"; done |
  "$DENO" run --allow-read --allow-env "$root/experiments/estimate.ts" "$CONFIG" --slurm --jobs "${MAX_PARALLEL:-${#RUNS[@]}}" >&2
mkdir -p "$RUNS_DIR/$NAME"
read -r -a sbatch_args <<<"${SBATCH_ARGS:-}"
export VITLAB_ROOT=$root EXTRA="${SWEEP_EXTRA[*]}"
array=$(sbatch --parsable --array="0-$((${#RUNS[@]} - 1))${MAX_PARALLEL:+%$MAX_PARALLEL}" \
  --chdir="$root" --export=ALL --output="$RUNS_DIR/$NAME/slurm-%A_%a.out" "${sbatch_args[@]}" \
  "$root/experiments/slurm-array.sh")
array=${array%%;*} # --parsable prints "jobid[;cluster]"
sbatch --parsable --dependency="afterany:$array" --job-name=vitlab-compare --chdir="$root" \
  --output="$RUNS_DIR/$NAME/compare-%j.log" --export=ALL "${sbatch_args[@]}" \
  --wrap="$(printf '%q ' "$DENO" task -q compare "$RUNS_DIR/$NAME" --format md \
    --plot "$RUNS_DIR/$NAME/curves.svg") > $(printf '%q' "$RUNS_DIR/$NAME/compare.md")" >/dev/null
echo "submitted array job $array (${#RUNS[@]} tasks) and a compare job after it; results: $RUNS_DIR/$NAME/compare.md" >&2
echo "$array"
