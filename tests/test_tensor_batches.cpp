/*
 * Tests of to_tensors (backend/tensor_batches.h): a batch of uint8 pixels normalized and erased
 * by torch gives exactly the loader's normalized float batch, for pretraining's and fine-tuning's
 * augmentation (random erasing on) and for evaluation, on the CPU and, where there is one, on a
 * GPU (through pinned memory; skipped without CUDA).
 */
#include <gtest/gtest.h>

#include <vector>

#include "backend/tensor_batches.h"
#include "data/loader.h"
#include "support/random_dataset.h"

namespace clustermim {
namespace {

/// The three loaders' options: pretraining, fine-tuning (erasing often), evaluation.
std::vector<LoaderOptions> loader_kinds() {
  LoaderOptions pretrain;
  pretrain.batch_size = 6;
  pretrain.workers = 2;
  pretrain.seed = 3;
  pretrain.image_size = 20;
  pretrain.stats = {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  LoaderOptions finetune = pretrain, eval = pretrain;
  finetune.finetune = FinetuneAugmentOptions{};
  finetune.finetune->erasing.probability = 0.8;
  eval.augment = false;
  return {pretrain, finetune, eval};
}

/// Compares every batch of epoch 1 of the float and the uint8 loaders, as tensors on `device`;
/// returns how many boxes were erased on the device.
int expect_same_tensors(torch::Device device) {
  const Dataset ds = random_dataset(30, 24);
  int erased = 0;
  for (const LoaderOptions& floats : loader_kinds()) {
    LoaderOptions bytes = floats;
    bytes.uint8_pixels = true;
    BatchLoader want_loader(ds, floats), got_loader(ds, bytes);
    want_loader.start_epoch(1);
    got_loader.start_epoch(1);
    Batch want, got;
    while (want_loader.next(want)) {
      EXPECT_TRUE(got_loader.next(got));
      const TensorBatch w = to_tensors(want, torch::kCPU), g = to_tensors(got, device);
      EXPECT_EQ(g.images.device(), device);
      EXPECT_EQ(g.images.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::equal(w.images, g.images.cpu()))
          << "max difference " << (w.images - g.images.cpu()).abs().max().item<float>();
      EXPECT_TRUE(torch::equal(w.labels, g.labels.cpu()));
      EXPECT_TRUE(torch::equal(w.indices, g.indices.cpu()));
      erased += static_cast<int>(got.erasures.size());
    }
  }
  return erased;
}

TEST(TensorBatches, Uint8PixelsNormalizedByTorchAreTheLoadersFloats) {
  EXPECT_GT(expect_same_tensors(torch::kCPU), 5);
}

TEST(TensorBatches, Uint8PixelsNormalizedOnTheGpuAreTheLoadersFloats) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_GT(expect_same_tensors(torch::kCUDA), 5);
}

TEST(TensorBatches, OnlyAGpuGetsUint8Batches) {
  EXPECT_FALSE(uint8_batches_for(torch::kCPU));
  EXPECT_TRUE(uint8_batches_for(torch::Device(torch::kCUDA, 0)));
}

}  // namespace
}  // namespace clustermim
