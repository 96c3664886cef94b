#!/usr/bin/env bash
# Installs what clustermim needs on a Debian 12 machine, and only what is missing.
# Idempotent: a second run checks the packages and exits. Runs as root (or with sudo).
#   scripts/setup.sh          build + test dependencies and the default dataset
#   scripts/setup.sh --bench  also the Python references used by bench/ (PyTorch, torchvision,
#                             sklearn) and the report scripts (matplotlib, scipy)
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build clang libclang-rt-14-dev
  libtorch-dev libopenblas0-openmp libgloo-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libarchive-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-dev python3-pybind11 python3-numpy python3-pytest python3-setuptools python3-venv
  dataset-fashion-mnist
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-torch python3-torchvision python3-sklearn python3-numpy python3-scipy
             python3-matplotlib)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
