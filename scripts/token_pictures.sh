#!/usr/bin/env bash
# Draws the token pictures in docs/ with `clustermim tokens show` (never by hand):
#   docs/tokens-cifar10-pixel64.png   pixel K-means, K = 64, fitted on CIFAR-10 train, drawn on test
# The tokenizer is fitted once into $CLUSTERMIM_CACHE (or ~/.cache/clustermim) and reused.
#   scripts/token_pictures.sh [BUILD_DIR=build] [CIFAR=../shared/datasets/cifar10-jpg.tar.gz]
set -euo pipefail
bin=${1:-build}/clustermim
cifar=${2:-../shared/datasets/cifar10-jpg.tar.gz}
cache=${CLUSTERMIM_CACHE:-$HOME/.cache/clustermim}
tokenizer=$cache/cifar10-pixel-kmeans-64.cmtk
mkdir -p "$cache" docs
[[ -f $tokenizer ]] || "$bin" tokenizer fit --data "$cifar" --kind pixel-kmeans:64 -o "$tokenizer"
"$bin" tokens show --tokenizer "$tokenizer" --data "$cifar" --split test --images 8 --pool 2000 \
  -o docs/tokens-cifar10-pixel64.png
