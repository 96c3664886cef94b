#!/usr/bin/env bash
# Pretraining throughput of two clustermim builds on the same data, alternated round by round
# (A B, B A, ...), for a regression check across revisions: prints each run's img/s (the
# `pretrain` summary line: training steps only, data load and tokenizer fit excluded) and the
# median [min, max] of the per-round ratios B / A, and writes them to OUT.json.
#   bench/compare_builds.sh BIN_A BIN_B DATA OUT [ROUNDS] [-- pretrain arguments for both]
# Example (a build of an older revision against this one, CIFAR-10 held in memory):
#   bench/compare_builds.sh /tmp/old/build/clustermim build/clustermim \
#     ../shared/datasets/cifar10-jpg.tar.gz bench/out/compare 5 -- configs/cifar10.toml \
#     --set pretrain.max_steps=10
set -euo pipefail
a=$1 b=$2 data=$3 out=$4 rounds=${5:-5}
shift $(( $# >= 5 ? 5 : $# ))
[[ "${1:-}" == "--" ]] && shift
args=("$@")
[[ -x "$a" && -x "$b" ]] || { echo "compare_builds: $a or $b is not an executable" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# img/s of one pretrain run of binary $1 (its output folder under $work).
run_one() {
  local line
  line=$("$1" pretrain "${args[@]}" --set "data.dataset=$data" --out "$work/run" 2>/dev/null |
         grep '^pretrained ')
  rm -rf "$work/run"
  sed -E 's/.* ([0-9.]+) img\/s.*/\1/' <<< "$line"
}

run_one "$a" > /dev/null  # warm-up: the decoded-dataset caches of both builds
run_one "$b" > /dev/null
rows=()
for ((r = 0; r < rounds; r++)); do
  if ((r % 2 == 0)); then ia=$(run_one "$a"); ib=$(run_one "$b"); else ib=$(run_one "$b"); ia=$(run_one "$a"); fi
  echo "round $r: A $ia img/s, B $ib img/s"
  rows+=("$ia $ib")
done
printf '%s\n' "${rows[@]}" | /usr/bin/python3 -c '
import json, os, statistics, sys
a, b, out, args = sys.argv[1:5]
runs = [dict(zip(("a", "b"), map(float, line.split()))) for line in sys.stdin]
ratios = [r["b"] / r["a"] for r in runs]
result = {"a": a, "b": b, "args": args, "rounds": runs, "ratio_b_over_a": statistics.median(ratios),
          "ratio_b_over_a_spread": [min(ratios), max(ratios)]}
with open(out + ".json.tmp", "w") as f:
    json.dump(result, f, indent=2)
os.replace(out + ".json.tmp", out + ".json")
median = result["ratio_b_over_a"]
print(f"B / A: {median:.3f} [{min(ratios):.3f}, {max(ratios):.3f}] over {len(runs)} rounds")
' "$a" "$b" "$out" "${args[*]}"
