#!/usr/bin/env bash
# Runs the benchmarks, each against its reference in the same run, and regenerates
# docs/PERFORMANCE.md from their JSON outputs in bench/out/.
#   bench/run.sh [BUILD_DIR] [--quick]
# --quick: fewer repeats (a few minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) build=$arg ;;
  esac
done
repeats=3
[[ $quick == 1 ]] && repeats=1
mkdir -p bench/out

"$build/bench_kmeans" --repeats "$repeats" --vocab 64,256
"$build/bench_loader" --benchmark_min_time=1 --benchmark_out=bench/out/loader.json \
  --benchmark_out_format=json
/usr/bin/python3 bench/loader_reference.py --json bench/out/loader_reference.json
if [[ -x "$build/bench_pretrain" ]]; then
  "$build/bench_pretrain" --precision both --repeats "$repeats"
fi
/usr/bin/python3 scripts/render_performance.py --out docs/PERFORMANCE.md
echo "wrote docs/PERFORMANCE.md"
