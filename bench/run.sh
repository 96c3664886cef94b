#!/usr/bin/env bash
# Runs every benchmark against its reference in the same run, prints the summary table, copies the
# JSON files to docs/bench/ (the committed records, and summary.json) and renders docs/PERFORMANCE.md.
# Every benchmark alternates clustermim and its reference (A B A B ...) for several rounds and
# reports the median of the per-round ratios with their min-max spread.
#   bench/run.sh [BUILD_DIR] [--quick]
# --quick: 3 rounds instead of 5, fewer steps per round, one Python allocator setting, no 224 px
# fine-tuning step (about 17 minutes on 2 cores); the default takes more than an hour there.
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
for b in bench_kmeans bench_loader bench_pretrain bench_finetune bench_epoch bench_decode; do
  [[ -x $build/$b ]] || { echo "bench: $build/$b is missing (run make build first)"; exit 2; }
done
if [[ $quick == 1 ]]; then
  rounds=3 steps=5 small_steps=1 twins=default loader_time=0.5 loader_epochs=1 epoch_steps=20
  finetune_steps=3 finetune_warmup=1
else
  rounds=5 steps=10 small_steps=5 twins=default,tuned loader_time=2 loader_epochs=2 epoch_steps=40
  finetune_steps=10 finetune_warmup=3
fi
mkdir -p bench/out
start=$(date +%s)

"$build/bench_kmeans" --rounds "$rounds" --vocab 64,256
# The loader's two sides are separate programs: alternate them here, one file each per round.
rm -rf bench/out/loader-rounds && mkdir -p bench/out/loader-rounds
for ((r = 0; r < rounds; r++)); do
  "$build/bench_loader" --benchmark_min_time="$loader_time" \
    --benchmark_out="bench/out/loader-rounds/ours-$r.json" --benchmark_out_format=json
  /usr/bin/python3 bench/loader_reference.py --epochs "$loader_epochs" \
    --json "bench/out/loader-rounds/reference-$r.json"
done
/usr/bin/python3 bench/loader_rounds.py bench/out/loader-rounds bench/out/loader.json
"$build/bench_pretrain" --preset vit-tiny-32 --batch 128 --precision both --rounds "$rounds" \
  --steps "$steps" --twins "$twins" --profile 3 --out bench/out/pretrain.json
"$build/bench_pretrain" --preset vit-small-16 --batch 64 --precision both --rounds "$rounds" \
  --steps "$small_steps" --warmup 1 --twins "$twins" --out bench/out/pretrain-small.json
"$build/bench_finetune" --preset vit-tiny-32 --batch 128 --rounds "$rounds" --steps "$finetune_steps" \
  --warmup "$finetune_warmup" --twins "$twins" --transform-images 2000 --out bench/out/finetune.json
if [[ $quick == 0 ]]; then  # a 224 px step takes ~10 s here (~25 s for the twin): full mode only
  "$build/bench_finetune" --preset vit-small-16 --batch 32 --classes 1000 --rounds "$rounds" \
    --steps 2 --warmup 1 --transform-images 200 --transform-source 256 \
    --out bench/out/finetune-small.json
fi
"$build/bench_epoch" --steps "$epoch_steps" --rounds "$rounds"
"$build/bench_decode" --rounds "$rounds"
if [[ -f $build/python/clustermim/__init__.py ]]; then
  /usr/bin/python3 bench/bench_tcas_python.py --build "$build" --rounds "$((rounds + 4))"
else
  echo "bench: no Python module in $build/python (python3-pybind11 missing?): tcas_python skipped"
fi

/usr/bin/python3 scripts/render_performance.py --record bench/out --mode "$([[ $quick == 1 ]] && echo quick || echo full)" \
  --seconds "$(( $(date +%s) - start ))"
