#!/usr/bin/env bash
# run.sh: builds the libFuzzer targets with clang (build-fuzz/) and runs each for FUZZ_SECONDS
# seconds (default 20) from its seed corpus in tests/fuzz/corpus/<target>/. Exits non-zero if a
# target crashes, leaks or trips a sanitizer; the reproducer is kept under build-fuzz/fuzz-work/.
#   tests/fuzz/run.sh                   every target
#   FUZZ_SECONDS=300 tests/fuzz/run.sh data_reader_fuzz
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(command_fuzz data_reader_fuzz mime_view_fuzz proxy_header_fuzz)
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DRELAYGUARD_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

status=0
for target in "${targets[@]}"; do
  seeds="$root/tests/fuzz/corpus/$target"
  work="$build/fuzz-work/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  echo "== $target: ${seconds}s"
  # New inputs go to the scratch corpus (first folder); the seeds in the tree are only read.
  if ! "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" \
    >"$work/log" 2>&1; then
    tail -n 60 "$work/log"
    echo "== $target: FAILED (reproducer in $work/artifacts/, full log $work/log)"
    status=1
    continue
  fi
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/log" || true
  echo "== $target: ok"
done
exit "$status"
