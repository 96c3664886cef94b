#!/usr/bin/env bash
# Regenerates the seed corpora in tests/fuzz/corpus/ (kept in the repo) from fuzz_seeds and the
# repo's configs. Run after a file format changes:  tests/fuzz/make_seeds.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build-fuzz}
corpus=$here/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/fuzz_seeds" "$work"
# Generated seeds are replaced; regression-* inputs (past crashers, now fixed) and kept-* seeds
# (made by hand, e.g. an F16 safetensors file that our writer never produces) stay.
[[ -d $corpus ]] && find "$corpus" -type f ! -name 'regression-*' ! -name 'kept-*' -delete
mkdir -p "$corpus"/{idx,cifar,tensor_file,config,image_folder,archive,safetensors}

cp "$work"/idx/* "$corpus/idx/"
gzip -9nc "$work/idx/train-images-idx3-ubyte" > "$corpus/idx/train-images-idx3-ubyte.gz"
cp "$work"/cifar/* "$corpus/cifar/"
cp "$work"/tensor_file/* "$corpus/tensor_file/"
cp "$work"/image_folder/* "$corpus/image_folder/"
cp "$work"/safetensors/* "$corpus/safetensors/"
cp "$here"/../../configs/*.toml "$corpus/config/"
printf 'pretrain.epochs=3\n' > "$corpus/config/override.txt"

# Archives: an image-folder tree, CIFAR batches and IDX files, each as one dataset would ship.
tree=$work/tree
mkdir -p "$tree/train/a" "$tree/train/b" "$tree/cifar" "$tree/fmnist"
cp "$work/image_folder/x.jpg" "$tree/train/a/"
cp "$work/image_folder/y.png" "$tree/train/b/"
cp "$work/cifar/test_batch.bin" "$tree/cifar/"
gzip -9nc "$work/idx/train-images-idx3-ubyte" > "$tree/fmnist/train-images-idx3-ubyte.gz"
gzip -9nc "$work/idx/train-labels-idx1-ubyte" > "$tree/fmnist/train-labels-idx1-ubyte.gz"
tar_flags=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$tree")
tar "${tar_flags[@]}" -cf - train | gzip -9n > "$corpus/archive/images.tar.gz"
tar "${tar_flags[@]}" -cf "$corpus/archive/cifar.tar" cifar
tar "${tar_flags[@]}" -cf - fmnist | gzip -9n > "$corpus/archive/idx.tar.gz"
echo "seed corpora written to $corpus"
