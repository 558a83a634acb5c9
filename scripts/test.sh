#!/usr/bin/env bash
# test.sh: sets up, builds and runs the whole test suite: unit and integration tests through
# CTest, then each libFuzzer target briefly (FUZZ_SECONDS, default 15). Exit status is non-zero
# if anything fails. This is the command .ci/run calls.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
ctest --test-dir "$root/build" --output-on-failure -j 2 --timeout 300
FUZZ_SECONDS=${FUZZ_SECONDS:-15} "$root/tests/fuzz/run.sh"
