#!/usr/bin/env bash
# The README's main job, on Fashion-MNIST (the Debian package), writing to runs/demo/:
#  1. TCAS table: label (oracle), random and pixel K-means tokenizers at K = 16, 64, 256, fitted
#     on the train split and scored on the test split (runs/demo/tcas.json).
#  2. `clustermim run configs/demo.toml`: fit the K = 64 pixel tokenizer, pretrain vit-tiny-28
#     with ClusterMIM-Pixel and with MAE, k-NN and linear-probe both and a random-init encoder,
#     and write runs/demo/report.{md,json} and curves.png.
# A finished step is not redone: rerunning resumes from the checkpoints in runs/demo/.
set -euo pipefail
bin=${1:-build/clustermim}
out=runs/demo
mkdir -p "$out"
"$bin" tcas --data fashion-mnist --split test --fit-split train \
  --tokenizers label,random:256,pixel-kmeans:16,pixel-kmeans:64,pixel-kmeans:256 \
  --save-dir "$out/tokenizers" --json "$out/tcas.json"
"$bin" run configs/demo.toml --out "$out"
