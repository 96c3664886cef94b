#!/usr/bin/env bash
# The GPU check: build clustermim against the CUDA LibTorch inside the installed PyTorch wheel,
# run the test suite on the GPU host, and time a 224 px vit-base-16 pretraining step (bf16
# autocast) against the Python twin on the same GPU, as is and with fused attention: images/s,
# ratio, and model FLOPs utilization against the bf16 GEMM peak measured in the same run.
# Writes bench/out/pretrain-gpu.json (scripts/render_performance.py puts it in
# docs/PERFORMANCE.md). About 5 minutes on an H100, most of it the build.
#   scripts/gpu_check.sh [BUILD_DIR=build-gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
python=${PYTHON:-python3}
start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')
# The wheel's libraries and the nvidia-* wheels' (cuBLAS, cuDNN, NCCL ...) as rpaths.
rpath=$($python - <<'PY'
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
print(";".join([os.path.join(os.path.dirname(torch.__file__), "lib")]
               + sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib")))))
PY
)
echo "gpu_check: torch $($python -c 'import torch; print(torch.__version__, torch.version.cuda)')"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$rpath" >/dev/null
cmake --build "$build" -j"$(nproc)" 2>&1 | grep -E "error|warning: unused|Built target clustermim$" || true
[[ -x $build/clustermim && -x $build/bench_pretrain ]] || { echo "gpu_check: build failed"; exit 1; }
echo "gpu_check: built in $(( $(date +%s) - start )) s"

(cd "$build" && ctest -j4 --timeout 300 2>&1 | tail -4)

mkdir -p bench/out
"$build/bench_pretrain" --device cuda --preset vit-base-16 --batch 256 --precision bf16 \
  --steps 20 --warmup 5 --twins default,sdpa --python "$python" --out bench/out/pretrain-gpu.json
echo "gpu_check: done in $(( $(date +%s) - start )) s"
