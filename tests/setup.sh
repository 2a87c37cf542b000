#!/usr/bin/env bash
# The first step of `deno task test` (and so of CI): the one list of system packages the tests
# use, each with how to tell it is there. Missing ones are installed with apt-get when this runs
# as root; otherwise it stops at once with the one command that installs them.
#
# - libopenblas0-pthread: the blas backend's products (tests/repro_test.ts, tests/blas_test.ts)
# - mesa-vulkan-drivers: lavapipe, a software Vulkan, for the WebGPU test (tests/webgpu_test.ts)
# - the shellcheck package: lints the shell scripts (tests/sweep_test.ts)
set -uo pipefail

# Other systems have no Debian packages: their tests still run, and the few that need a Linux
# library say "(Linux only)" in their names.
[ "$(uname -s)" = Linux ] || exit 0

missing=()
# Debian's pthread build of OpenBLAS (its OpenMP build keeps a thread pool that crashes a process
# at exit); elsewhere any libopenblas.so.0 the linker knows.
if command -v apt-get >/dev/null 2>&1; then
  compgen -G '/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0' >/dev/null || missing+=(libopenblas0-pthread)
else
  /sbin/ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0 ' || missing+=(libopenblas0-pthread)
fi
compgen -G '/usr/share/vulkan/icd.d/lvp_icd.*.json' >/dev/null || missing+=(mesa-vulkan-drivers)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "tests/setup.sh: the tests need these Debian packages (or your system's equivalents): ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/setup.sh: the tests need ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "tests/setup.sh: installing ${missing[*]} (apt-get)" >&2
log=$(mktemp)
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
  echo "tests/setup.sh: apt-get install ${missing[*]} failed: $(grep -E '^E:' "$log" | head -1)" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
echo "tests/setup.sh: installed ${missing[*]}" >&2
