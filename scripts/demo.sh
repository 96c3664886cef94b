#!/usr/bin/env bash
# The README's main job: fit pixel K-means tokenizers on Fashion-MNIST (train split) and print
# the TCAS table on the test split next to the label (oracle) and random tokenizers.
# Outputs go to runs/demo/: tcas.json and the fitted tokenizer files.
set -euo pipefail
bin=${1:-build/clustermim}
out=runs/demo
mkdir -p "$out"
"$bin" tcas --data fashion-mnist --split test --fit-split train \
  --tokenizers label,random:256,pixel-kmeans:16,pixel-kmeans:64,pixel-kmeans:256 \
  --save-dir "$out/tokenizers" --json "$out/tcas.json"
echo "wrote $out/tcas.json and $out/tokenizers/"
