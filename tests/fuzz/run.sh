#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR (configured with -DCLUSTERMIM_FUZZ=ON) for a bounded
# time from its seed corpus, and fails on the first crash, sanitizer report, leak, time-out or
# out-of-memory. A found input is copied to tests/fuzz/crashes/; once fixed, it moves to
# tests/fuzz/corpus/<target>/regression-<what> (replayed first by every run) next to a unit test.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET=60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
seconds=${2:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
for target in idx cifar tensor_file safetensors config image_folder archive npy tar_index; do
  bin=$build/fuzz_$target
  [[ -x $bin ]] || { echo "fuzz: $bin is missing (configure with -DCLUSTERMIM_FUZZ=ON)"; exit 2; }
  mkdir -p "$work/$target"
  # Fixed seed: the same binary and corpus explore the same inputs on every machine.
  if "$bin" -seed=1 -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$work/$target-" \
      "$work/$target" "$here/corpus/$target" >"$work/$target.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$')
    printf 'fuzz %-13s ok    %8s inputs in %ss\n' "$target" "${runs:-?}" "$seconds"
    passed=$((passed + 1))
  else
    printf 'fuzz %-13s FAILED\n' "$target"
    grep -E 'ERROR|SUMMARY|terminate|what\(\)' "$work/$target.log" | head -20 || true
    mkdir -p "$here/crashes"
    for a in "$work/$target"-*; do [[ -e $a ]] && cp "$a" "$here/crashes/" && echo "  input: tests/fuzz/crashes/$(basename "$a")"; done
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
