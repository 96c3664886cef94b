#!/usr/bin/env bash
# Runs every benchmark against its reference in the same run, prints the summary table, writes
# bench/out/summary.json and regenerates docs/PERFORMANCE.md from the JSON files in bench/out/.
#   bench/run.sh [BUILD_DIR] [--quick]
# --quick: fewer steps and repeats, one Python allocator setting (about 6 minutes on 2 cores);
# the default takes about an hour there.
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
for b in bench_kmeans bench_loader bench_pretrain bench_epoch; do
  [[ -x $build/$b ]] || { echo "bench: $build/$b is missing (run make build first)"; exit 2; }
done
if [[ $quick == 1 ]]; then
  repeats=1 steps=5 small_steps=2 twins=default loader_time=0.5 loader_epochs=1 epoch_steps=20
else
  repeats=3 steps=10 small_steps=5 twins=default,tuned loader_time=2 loader_epochs=2 epoch_steps=40
fi
mkdir -p bench/out
start=$(date +%s)

"$build/bench_kmeans" --repeats "$repeats" --vocab 64,256
"$build/bench_loader" --benchmark_min_time="$loader_time" --benchmark_out=bench/out/loader.json \
  --benchmark_out_format=json
/usr/bin/python3 bench/loader_reference.py --epochs "$loader_epochs" --json bench/out/loader_reference.json
"$build/bench_pretrain" --preset vit-tiny-32 --batch 128 --precision both --repeats "$repeats" \
  --steps "$steps" --twins "$twins" --profile 3 --out bench/out/pretrain.json
"$build/bench_pretrain" --preset vit-small-16 --batch 64 --precision both --repeats "$repeats" \
  --steps "$small_steps" --warmup 1 --twins "$twins" --out bench/out/pretrain-small.json
"$build/bench_epoch" --steps "$epoch_steps" --repeats "$repeats"

/usr/bin/python3 scripts/render_performance.py --mode "$([[ $quick == 1 ]] && echo quick || echo full)" \
  --seconds "$(( $(date +%s) - start ))"
