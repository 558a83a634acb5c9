#!/usr/bin/env bash
# build.sh: sets up (scripts/setup.sh), configures and builds relayguard into build/. Arguments
# are build targets (default: everything, tests included); CMAKE_ARGS adds configure options,
# e.g. CMAKE_ARGS=-DCMAKE_BUILD_TYPE=Debug.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# shellcheck disable=SC2086
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
targets=()
for t in "$@"; do
  targets+=(--target "$t")
done
cmake --build "$root/build" -j "$(nproc)" "${targets[@]}"
