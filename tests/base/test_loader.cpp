/*
 * Tests of BatchLoader: epoch coverage, drop_last, determinism across seeds, epochs and worker
 * counts (the fine-tuning augmentation too), data-parallel shards, resuming mid-epoch, exception propagation from workers and clean shutdown. Datasets
 * are built by hand (random pixels), never through load_dataset.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/loader.h"

namespace clustermim {
namespace {

Dataset make_dataset(int64_t n, int64_t side = 8, int64_t channels = 3) {
  Dataset d;
  d.name = "synthetic";
  d.height = d.width = side;
  d.channels = channels;
  d.pixels.resize(static_cast<size_t>(n * side * side * channels));
  std::mt19937_64 rng(123);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  for (int c = 0; c < 10; ++c) d.classes.push_back("class" + std::to_string(c));
  return d;
}

LoaderOptions small_options(int64_t batch_size = 10, int workers = 2) {
  LoaderOptions o;
  o.batch_size = batch_size;
  o.workers = workers;
  o.seed = 42;
  return o;
}

std::vector<Batch> collect(BatchLoader& loader, int64_t epoch, int64_t skip = 0) {
  loader.start_epoch(epoch, skip);
  std::vector<Batch> batches;
  Batch b;
  while (loader.next(b)) batches.push_back(b);
  return batches;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].size, b[i].size);
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_EQ(a[i].labels, b[i].labels) << "batch " << i;
    EXPECT_TRUE(a[i].images == b[i].images) << "batch " << i;  // bit-identical floats
  }
}

TEST(Loader, EveryIndexOncePerEpoch) {
  const auto ds = make_dataset(103);
  auto o = small_options();
  o.drop_last = false;
  BatchLoader loader(ds, o);
  EXPECT_EQ(loader.batches_per_epoch(), 11);
  const auto batches = collect(loader, 0);
  ASSERT_EQ(batches.size(), 11u);
  EXPECT_EQ(batches.back().size, 3);
  std::vector<int64_t> all;
  for (const auto& b : batches) {
    ASSERT_EQ(b.images.size(), static_cast<size_t>(b.size * 3 * 8 * 8));
    ASSERT_EQ(b.crops.size(), static_cast<size_t>(b.size));
    for (int64_t k = 0; k < b.size; ++k) EXPECT_EQ(b.labels[k], ds.labels[b.indices[k]]);
    all.insert(all.end(), b.indices.begin(), b.indices.end());
  }
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(all, sorted);  // shuffled
}

TEST(Loader, DropLastDropsTheRemainder) {
  const auto ds = make_dataset(103);
  BatchLoader loader(ds, small_options());
  EXPECT_EQ(loader.batches_per_epoch(), 10);
  const auto batches = collect(loader, 0);
  ASSERT_EQ(batches.size(), 10u);
  std::set<int64_t> seen;
  for (const auto& b : batches) {
    EXPECT_EQ(b.size, 10);
    seen.insert(b.indices.begin(), b.indices.end());
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(Loader, SameSeedGivesIdenticalBatches) {
  const auto ds = make_dataset(64);
  BatchLoader a(ds, small_options()), b(ds, small_options());
  expect_same(collect(a, 3), collect(b, 3));
  auto other = small_options();
  other.seed = 43;
  BatchLoader c(ds, other);
  EXPECT_NE(collect(a, 3)[0].indices, collect(c, 3)[0].indices);
}

TEST(Loader, DifferentEpochGivesDifferentOrder) {
  EXPECT_NE(BatchLoader::epoch_order(100, 42, 0, true), BatchLoader::epoch_order(100, 42, 1, true));
  EXPECT_EQ(BatchLoader::epoch_order(100, 42, 1, true), BatchLoader::epoch_order(100, 42, 1, true));
  std::vector<int64_t> identity(100);
  for (int64_t i = 0; i < 100; ++i) identity[i] = i;
  EXPECT_EQ(BatchLoader::epoch_order(100, 42, 1, false), identity);
}

TEST(Loader, WorkerCountDoesNotChangeBatches) {
  const auto ds = make_dataset(150, 16);
  auto o = small_options(16, 1);
  o.drop_last = false;
  o.image_size = 12;
  BatchLoader one(ds, o);
  o.workers = 3;
  o.prefetch = 1;
  BatchLoader three(ds, o);
  o.workers = 0;
  BatchLoader inline_loader(ds, o);
  for (int64_t epoch : {0, 1}) {
    const auto reference = collect(one, epoch);
    expect_same(reference, collect(three, epoch));
    expect_same(reference, collect(inline_loader, epoch));
  }
}

TEST(Loader, ShardsConcatenateToTheWholeBatch) {
  const auto ds = make_dataset(95, 10);
  auto o = small_options(12, 2);
  o.drop_last = false;  // the last batch (11 images) splits unevenly: 3 + 4 + 4
  o.image_size = 8;
  const auto whole = [&] { BatchLoader l(ds, o); return collect(l, 1); }();
  std::vector<std::vector<Batch>> slices;
  for (int shard = 0; shard < 3; ++shard) {
    o.shard = shard;
    o.shards = 3;
    BatchLoader l(ds, o);
    slices.push_back(collect(l, 1));
  }
  ASSERT_EQ(slices[0].size(), whole.size());
  for (size_t b = 0; b < whole.size(); ++b) {
    Batch joined;
    for (const auto& shard : slices) {
      const Batch& part = shard[b];
      joined.size += part.size;
      joined.indices.insert(joined.indices.end(), part.indices.begin(), part.indices.end());
      joined.labels.insert(joined.labels.end(), part.labels.begin(), part.labels.end());
      joined.images.insert(joined.images.end(), part.images.begin(), part.images.end());
    }
    EXPECT_LE(slices[2][b].size - slices[0][b].size, 1) << "batch " << b;
    expect_same({whole[b]}, {joined});
  }
  o.shard = 3;
  EXPECT_THROW(BatchLoader(ds, o).batches_per_epoch(), Error);
}

TEST(Loader, SkipBatchesMatchesTheTailOfAFullEpoch) {
  const auto ds = make_dataset(100);
  BatchLoader loader(ds, small_options());
  const auto full = collect(loader, 2);
  const auto tail = collect(loader, 2, 3);
  expect_same(std::vector<Batch>(full.begin() + 3, full.end()), tail);
  EXPECT_TRUE(collect(loader, 2, loader.batches_per_epoch()).empty());
  EXPECT_THROW(loader.start_epoch(2, loader.batches_per_epoch() + 1), Error);
}

TEST(Loader, EvalModeImagesAreTheEvalTransform) {
  const auto ds = make_dataset(30);
  auto o = small_options();
  o.augment = false;
  o.stats.mean = {0.1f, 0.2f, 0.3f};
  BatchLoader loader(ds, o);
  for (const auto& b : collect(loader, 0)) {
    EXPECT_TRUE(b.crops.empty());
    for (int64_t k = 0; k < b.size; ++k) {
      const auto expected = eval_transform(image_view(ds, b.indices[k]), 8, o.stats);
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), b.images.begin() + k * 192));
    }
  }
}

TEST(Loader, WorkerExceptionPropagatesFromNext) {
  const auto ds = make_dataset(100);
  for (int workers : {0, 1, 3}) {
    auto o = small_options(10, workers);
    o.shuffle = false;
    o.on_sample = [](int64_t index) {
      if (index == 25) throw Error("bad sample 25");
    };
    BatchLoader loader(ds, o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));  // batches 0 and 1 come out, batch 2 holds index 25
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.indices[0], 10);
    try {
      loader.next(b);
      FAIL() << "no exception with " << workers << " workers";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "bad sample 25");
    }
    EXPECT_THROW(loader.next(b), Error);  // stays failed until start_epoch
    loader.start_epoch(0, 3);             // a restart past the bad batch works
    EXPECT_TRUE(loader.next(b));
  }
}

TEST(Loader, DestructorMidEpochDoesNotHang) {
  const auto ds = make_dataset(500);
  for (int workers : {1, 4}) {
    auto o = small_options(8, workers);
    BatchLoader loader(ds, o);
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    loader.start_epoch(1);  // restart mid-epoch
    ASSERT_TRUE(loader.next(b));
  }  // destroyed with batches in flight
  BatchLoader never_started(ds, small_options());
}

TEST(Loader, RejectsBadOptionsAndDatasets) {
  auto ds = make_dataset(20);
  auto o = small_options();
  o.batch_size = 0;
  EXPECT_THROW(BatchLoader(ds, o).batches_per_epoch(), Error);
  o = small_options();
  o.augment_options.scale_min = 2;
  EXPECT_THROW(BatchLoader(ds, o).batches_per_epoch(), Error);
  ds.pixels.resize(ds.pixels.size() - 1);  // inconsistent sizes
  EXPECT_THROW(BatchLoader(ds, small_options()).batches_per_epoch(), Error);
  Batch b;
  const auto good = make_dataset(20);
  BatchLoader not_started(good, small_options());
  EXPECT_THROW(not_started.next(b), Error);
}

TEST(Loader, GrayscaleAndImageSize) {
  const auto ds = make_dataset(20, 28, 1);
  auto o = small_options(5);
  BatchLoader native(ds, o);
  EXPECT_EQ(native.image_size(), 28);
  o.image_size = 16;
  BatchLoader resized(ds, o);
  const auto batches = collect(resized, 0);
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].image_size, 16);
  EXPECT_EQ(batches[0].images.size(), 5u * 3 * 16 * 16);
}

TEST(Loader, FinetuneAugmentIsWorkerIndependentAndReplacesPretraining) {
  const auto ds = make_dataset(60, 16);
  auto o = small_options(8, 1);
  o.image_size = 12;
  o.finetune = FinetuneAugmentOptions{};
  o.finetune->erasing.probability = 0.5;
  BatchLoader one(ds, o);
  o.workers = 3;
  BatchLoader three(ds, o);
  const auto reference = collect(one, 2);
  expect_same(reference, collect(three, 2));
  // Each image is finetune_transform with the sample's Rng, not train_transform.
  auto pretrain = o;
  pretrain.finetune.reset();
  BatchLoader plain(ds, pretrain);
  const auto plain_batches = collect(plain, 2);
  int differing = 0;
  for (size_t b = 0; b < reference.size(); ++b)
    differing += reference[b].images != plain_batches[b].images;
  EXPECT_GE(differing, static_cast<int>(reference.size()) - 1);
  // Evaluation ignores it.
  o.augment = false;
  pretrain.augment = false;
  BatchLoader eval_ft(ds, o), eval_plain(ds, pretrain);
  expect_same(collect(eval_ft, 0), collect(eval_plain, 0));
  o.augment = true;
  o.finetune->rand_augment.magnitude = 12;
  EXPECT_THROW(BatchLoader(ds, o), Error);
}

}  // namespace
}  // namespace clustermim
