# shellcheck shell=bash
# Shared by the sweep scripts beside it (source it, do not run it). A sweep script sets
#   NAME  the run group: runs go to $RUNS_DIR/$NAME/<run-id>/
#   RUNS  an array, one entry per run: that run's `--set key=value` overrides
# then calls `sweep "$@"`, which prints a time estimate, trains the runs one after another
# (or JOBS at a time), collects the run directories `exp` prints, and ends with `compare`.
#
# Settings, from the environment (relative paths are taken from the current directory):
#   CONFIG    base config (default configs/vit-small.yaml)
#   EXTRA     more exp arguments for every run, applied after the sweep's own, split on spaces:
#             EXTRA="--set data.subset=6000 --set train.epochs=2"; arguments given to the
#             script itself are added the same way
#   RUNS_DIR  root of the run directories (default runs/); on a cluster, a shared filesystem
#   JOBS      runs at a time (default 1). wasm trains on one core, so up to the core count helps
#   COMPARE   more `compare` arguments, e.g. COMPARE="--format md --plot sweep.svg" (paths in
#             it are relative to the repository root, as for any deno task)
#   GFLOPS    the speed the estimate assumes per job; unset, the base config is timed here first
#             with bench (see experiments/estimate.ts)
#   DENO      the deno binary (default: deno on PATH)
set -euo pipefail

SWEEP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SWEEP_ROOT=$(cd "$SWEEP_HERE/.." && pwd)

# The depth × d_model grid shared by depth-width.sh and slurm-array.sh (DEPTHS, WIDTHS).
depth_width_runs() {
  RUNS=()
  local depth width
  for depth in ${DEPTHS:-2 4 6}; do
    for width in ${WIDTHS:-32 64 96}; do
      RUNS+=("--set model.depth=$depth --set model.d_model=$width")
    done
  done
}

_sweep_abs() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

DENO=${DENO:-deno}
CONFIG=$(_sweep_abs "${CONFIG:-$SWEEP_ROOT/configs/vit-small.yaml}")
RUNS_DIR=$(_sweep_abs "${RUNS_DIR:-$SWEEP_ROOT/runs}")
JOBS=${JOBS:-1}
NAME=${NAME:-sweep}
read -r -a SWEEP_EXTRA <<<"${EXTRA:-}"
read -r -a SWEEP_COMPARE <<<"${COMPARE:-}"

case $JOBS in
  '' | *[!0-9]* | 0)
    echo "JOBS must be a positive integer, got '$JOBS'" >&2
    exit 2
    ;;
esac

# One run: a label, then its exp arguments. The run directory goes to stdout; progress goes to
# stderr, each line prefixed with the label so that parallel runs can be told apart.
# Signals: the relay that prefixes lines ignores them, so a signal to the whole task (scancel,
# Ctrl-C) cannot cut the pipe while the run is still writing its checkpoint and its last words;
# a signal to this shell alone is passed on to the run as SIGTERM. Either way the run ends
# `interrupted`, resumable with `deno task exp --resume <run-dir>`, and this returns its status.
sweep_one() {
  local label=$1 pid status=0
  shift
  "$DENO" task -q exp "$CONFIG" --runs-dir "$RUNS_DIR" --name "$NAME" --quiet "$@" \
    2> >(
      trap '' INT TERM HUP
      while IFS= read -r line; do printf '[%s] %s\n' "$label" "$line" >&2; done
    ) &
  pid=$!
  # shellcheck disable=SC2064 # the pid is fixed now
  trap "kill -s TERM $pid 2>/dev/null" INT TERM HUP
  while :; do
    if wait "$pid"; then
      status=0
      break
    fi
    status=$?
    # A trapped signal interrupts wait (status > 128) while the run is still finishing: wait again.
    if [ "$status" -le 128 ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
  done
  trap - INT TERM HUP
  wait # the relay's last lines
  return "$status"
}
export -f sweep_one
export DENO CONFIG RUNS_DIR NAME

# bench's JSON line for the base config with the sweep's --set and --backend arguments: the
# speed the estimate assumes, timed on this machine with the backend, replicas and micro-batches
# the runs will use (a few seconds). Fails, printing nothing, when the config cannot be timed.
base_speed() {
  local args=() i=0 word
  while [ "$i" -lt "${#SWEEP_EXTRA[@]}" ]; do
    word=${SWEEP_EXTRA[$i]}
    case $word in
    --set | --backend) args+=("$word" "${SWEEP_EXTRA[$((i + 1))]:-}") && i=$((i + 1)) ;;
    --set=* | --backend=*) args+=("$word") ;;
    esac
    i=$((i + 1))
  done
  "$DENO" task -q bench "$CONFIG" "${args[@]}" --steps 5 --warmup 2 --format json 2>/dev/null | tail -n 1 | grep '^{'
}

# Prints the estimate, runs RUNS, then compares them. Arguments: more exp arguments for every run.
sweep() {
  SWEEP_EXTRA+=("$@")
  cd "$SWEEP_ROOT"
  local lines=() run
  # No trailing blank: xargs -L would join the next line to this one.
  for run in "${RUNS[@]}"; do
    local label=${run//--set /}
    lines+=("${label// /,} $run${SWEEP_EXTRA[*]:+ ${SWEEP_EXTRA[*]}}")
  done

  echo "$NAME: ${#RUNS[@]} runs of $CONFIG into $RUNS_DIR/$NAME, $JOBS at a time" >&2
  local measured=()
  if [ -z "${GFLOPS:-}" ]; then
    local speed
    speed=$(base_speed) && measured=(--measured "$speed")
  fi
  printf '%s\n' "${lines[@]#* }" |
    "$DENO" run --allow-read --allow-env "$SWEEP_HERE/estimate.ts" "$CONFIG" --jobs "$JOBS" "${measured[@]}" >&2

  local start=$SECONDS dirs=() out xargs_pid
  out=$(mktemp)
  # xargs runs each line as one `sweep_one` call, JOBS at a time; a failed run does not stop
  # the others. Each run prints its directory when it ends. A signal to this script is passed
  # to every running sweep_one, which stops its run as `interrupted`.
  # shellcheck disable=SC2016 # $@ is expanded by the inner bash
  printf '%s\n' "${lines[@]}" | xargs -P "$JOBS" -L 1 bash -c 'sweep_one "$@"' sweep_one >"$out" &
  xargs_pid=$!
  SWEEP_STOPPED=0
  # shellcheck disable=SC2064 # the pid is fixed now
  trap "SWEEP_STOPPED=1; pkill -TERM -P $xargs_pid 2>/dev/null; echo '$NAME: stopping the runs; each writes its state' >&2" INT TERM HUP
  while ! wait "$xargs_pid" && kill -0 "$xargs_pid" 2>/dev/null; do :; done
  trap - INT TERM HUP
  mapfile -t dirs <"$out"
  rm -f "$out"
  if [ "$SWEEP_STOPPED" -eq 1 ]; then
    echo "$NAME: interrupted; resume each stopped run with: deno task exp --resume <run-dir> (under $RUNS_DIR/$NAME)" >&2
    exit 143
  fi
  local elapsed=$((SECONDS - start))
  printf '%s: %d of %d runs finished in %dm%02ds\n' "$NAME" "${#dirs[@]}" "${#RUNS[@]}" \
    $((elapsed / 60)) $((elapsed % 60)) >&2
  if [ "${#dirs[@]}" -eq 0 ]; then
    echo "$NAME: no run finished; see the messages above" >&2
    exit 1
  fi
  "$DENO" task -q compare "${dirs[@]}" "${SWEEP_COMPARE[@]}"
  # SWEEP_GROUP_BY (set by seeds.sh): also the mean ± std over that key.
  if [ -n "${SWEEP_GROUP_BY:-}" ]; then
    "$DENO" task -q compare "${dirs[@]}" --group-by "$SWEEP_GROUP_BY" "${SWEEP_COMPARE[@]}"
  fi
  if [ "${#dirs[@]}" -ne "${#RUNS[@]}" ]; then
    echo "$NAME: $((${#RUNS[@]} - ${#dirs[@]})) runs failed; their directories are under $RUNS_DIR/$NAME" >&2
    exit 1
  fi
}
