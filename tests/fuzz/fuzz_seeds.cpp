/*
 * Writes the small valid files that seed the fuzz corpora (tests/fuzz/make_seeds.sh packs some
 * of them into archives). Run once when a format changes; the corpus is kept in the repo.
 *   fuzz_seeds OUT_DIR
 */
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset_cache.h"
#include "fuzz_common.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"

namespace {

using clustermim::fuzz::write_bytes;
namespace fs = std::filesystem;

void write_vector(const fs::path& path, const std::vector<uint8_t>& bytes) {
  write_bytes(path, bytes.data(), bytes.size());
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

/// IDX images (3 images of 4x4) and labels, as read for Fashion-MNIST.
void write_idx(const fs::path& dir) {
  std::vector<uint8_t> images, labels;
  put_be32(images, 0x803);
  put_be32(images, 3);
  put_be32(images, 4);
  put_be32(images, 4);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<uint8_t>(i * 5));
  put_be32(labels, 0x801);
  put_be32(labels, 3);
  for (uint8_t l : {0, 3, 9}) labels.push_back(l);
  write_vector(dir / "train-images-idx3-ubyte", images);
  write_vector(dir / "train-labels-idx1-ubyte", labels);
}

/// Two CIFAR records (label byte + 3x32x32 planes).
void write_cifar(const fs::path& dir) {
  std::vector<uint8_t> batch;
  for (int r = 0; r < 2; ++r) {
    batch.push_back(static_cast<uint8_t>(r * 7));
    for (int i = 0; i < 3 * 32 * 32; ++i) batch.push_back(static_cast<uint8_t>(i + r));
  }
  write_vector(dir / "test_batch.bin", batch);
}

void write_images(const fs::path& dir) {
  cv::Mat color(8, 8, CV_8UC3), gray(8, 8, CV_8UC1);
  cv::randu(color, 0, 255);
  cv::randu(gray, 0, 255);
  std::vector<uint8_t> jpg, png;
  cv::imencode(".jpg", color, jpg);
  cv::imencode(".png", gray, png);
  write_vector(dir / "x.jpg", jpg);
  write_vector(dir / "y.png", png);
}

void write_tensor_files(const fs::path& dir) {
  using namespace clustermim;
  TensorFile f;
  f.magic = "CMTK";
  f.meta = {{"kind", "pixel-kmeans"}, {"vocab", 2}};
  const float centroids[6] = {0, 1, 2, 3, 4, 5};
  const int64_t counts[2] = {7, 9};
  f.add("centroids", DType::F32, {2, 3}, centroids);
  f.add("counts", DType::I64, {2}, counts);
  save_tensor_file((dir / "tokenizer.cmtk").string(), f);

  Dataset d;
  d.name = "seed";
  d.split = "train";
  d.classes = {"a", "b"};
  d.height = d.width = 2;
  d.channels = 1;
  d.pixels = {1, 2, 3, 4, 5, 6, 7, 8};
  d.labels = {0, 1};
  save_dataset_cache((dir / "dataset.cmds").string(), d, "key");
}

void write_safetensors_seed(const fs::path& dir) {
  using namespace clustermim;
  TensorFile f;
  const float cls[4] = {0.5f, -1.0f, 2.0f, 0.0f};
  const int64_t steps[1] = {3};
  f.add("cls_token", DType::F32, {1, 1, 4}, cls);
  f.add("steps", DType::I64, {1}, steps);
  save_safetensors((dir / "timm.safetensors").string(), f.tensors, {{"format", "pt"}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  write_idx(out / "idx");
  write_cifar(out / "cifar");
  write_images(out / "image_folder");
  write_tensor_files(out / "tensor_file");
  write_safetensors_seed(out / "safetensors");
  return 0;
}
