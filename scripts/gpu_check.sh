#!/usr/bin/env bash
# The GPU check: build clustermim against the CUDA LibTorch inside the installed PyTorch wheel,
# run the test suite on the GPU host, and time a 224 px vit-base-16 pretraining step (bf16
# autocast) against the Python twin on the same GPU, as is and with fused attention: images/s,
# ratio, and model FLOPs utilization against the bf16 GEMM peak measured in the same run; then
# the vit-base-16 fine-tuning step (MAE's recipe, 1000 classes) against its twin of MAE's
# main_finetune step. Writes docs/gpu/pretrain-gpu.json, docs/gpu/finetune-gpu.json, its own output to docs/gpu/gpu_check.log and CTest's to
# docs/gpu/gpu_ctest.log (scripts/render_performance.py puts all three in docs/PERFORMANCE.md;
# commit them, as a GPU host keeps nothing), and the build log in BUILD_DIR. About 4 minutes on an
# H100 or H200, under 2 of them the build.
#   scripts/gpu_check.sh [--deps DIR] [--no-bench] [BUILD_DIR=build-gpu]
# --deps: the C++ dependencies from scripts/gpu_bundle.sh, for a host without them installed.
# --no-bench: build and test only.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu deps="" bench=1
while (($#)); do
  case "$1" in
    --deps) deps=$(realpath "$2"); shift ;;
    --no-bench) bench=0 ;;
    *) build=$1 ;;
  esac
  shift
done
python=${PYTHON:-python3}
start=$(date +%s)
out=$PWD/docs/gpu
mkdir -p "$out"
exec > >(tee "$out/gpu_check.log") 2>&1

# The compiler: the first of $CXX, c++, g++ that links libstdc++ as a shared library. One that
# links it statically (the H200 host's $CXX, /opt/gcc, did) resolves std::filesystem and other
# libstdc++ functions to the copies libtorch.so exports, built for an older ABI, and the programs
# crash; CMakeLists.txt's "libstdc++ first" link option only helps with the shared library.
cxx=""
for c in ${CXX:-} c++ g++; do
  c=$(command -v "$c") || continue
  if [[ $("$c" -print-file-name=libstdc++.so) == /* ]]; then cxx=$c; break; fi
done
[[ -n $cxx ]] || { echo "gpu_check: no C++ compiler here links libstdc++ as a shared library"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "gpu_check: $(. /etc/os-release && echo "$PRETTY_NAME"), $cxx: $("$cxx" --version | head -1), $(cmake --version | head -1)"
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
options=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx")
if [[ -n $deps ]]; then
  usr=$deps/root/usr lib=$deps/root/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$deps/root
  prefix="$prefix;$usr" rpath="$rpath;$lib"
  # OpenCV is static there: its image codecs' libraries go at the end of every link.
  options+=(-DPKG_CONFIG_EXECUTABLE="$usr/bin/pkg-config-bundle"
            -DCMAKE_CXX_STANDARD_LIBRARIES="$lib/libpng16.a $lib/libjpeg.a $lib/libz.a -ldl")
fi
keep_going=(-k)
if command -v ninja >/dev/null; then options+=(-G Ninja) keep_going=(-k 0); fi
mkdir -p "$build"
# The wheel's LibTorch bundles its own libgomp: no second OpenMP runtime (CMakeLists.txt).
cmake -S . -B "$build" "${options[@]}" -DCLUSTERMIM_OPENMP=OFF -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_RPATH="$rpath" \
  >"$build/configure.log" || { tail -30 "$build/configure.log"; exit 1; }
if ! cmake --build "$build" -j"$(nproc)" --target clustermim clustermim_tests clustermim_base_tests \
     bench_pretrain bench_finetune -- "${keep_going[@]}" >"$build/build.log" 2>&1; then
  grep -E -A4 "error|undefined reference" "$build/build.log" | head -200
  echo "gpu_check: build failed (log: $build/build.log)"; exit 1
fi
echo "gpu_check: built in $(( $(date +%s) - start )) s"

(cd "$build" && OMP_NUM_THREADS=2 ctest -j8 --timeout 300 --output-on-failure \
  >"$out/gpu_ctest.log" 2>&1 || true)
grep -E "tests passed|^\s+[0-9]+ - " "$out/gpu_ctest.log" || true
echo "gpu_check: tested in $(( $(date +%s) - start )) s"

((bench)) || exit 0
"$build/bench_pretrain" --device cuda --preset vit-base-16 --batch 256 --precision bf16 \
  --steps 20 --warmup 5 --repeats 3 --twins default,sdpa --python "$python" --out "$out/pretrain-gpu.json"
"$build/bench_finetune" --device cuda --preset vit-base-16 --batch 128 --classes 1000 \
  --rounds 3 --steps 10 --warmup 3 --transform-images 0 --python "$python" --out "$out/finetune-gpu.json"
echo "gpu_check: done in $(( $(date +%s) - start )) s"
