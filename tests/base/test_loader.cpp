/*
 * Tests of BatchLoader: epoch coverage, drop_last, determinism across seeds, epochs and worker
 * counts (the fine-tuning augmentation too), data-parallel shards, resuming mid-epoch, exception
 * propagation from workers and clean shutdown, the loader over an ImageSource, the evaluation
 * crop ratio, bad samples (replaced, counted, named, too many = Error), and uint8 batches (the
 * float batch before normalizing and erasing). Datasets are built by
 * hand (random pixels), never through load_dataset; bad samples come from a source that fails on
 * chosen indices.
 */
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/loader.h"
#include "support/random_dataset.h"

namespace clustermim {
namespace {

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
  const auto ds = random_dataset(103);
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
  const auto ds = random_dataset(103);
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
  const auto ds = random_dataset(64);
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
  const auto ds = random_dataset(150, 16);
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
  const auto ds = random_dataset(95, 10);
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
  const auto ds = random_dataset(100);
  BatchLoader loader(ds, small_options());
  const auto full = collect(loader, 2);
  const auto tail = collect(loader, 2, 3);
  expect_same(std::vector<Batch>(full.begin() + 3, full.end()), tail);
  EXPECT_TRUE(collect(loader, 2, loader.batches_per_epoch()).empty());
  EXPECT_THROW(loader.start_epoch(2, loader.batches_per_epoch() + 1), Error);
}

TEST(Loader, EvalModeImagesAreTheEvalTransform) {
  const auto ds = random_dataset(30);
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
  const auto ds = random_dataset(100);
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
  const auto ds = random_dataset(500);
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
  auto ds = random_dataset(20);
  auto o = small_options();
  o.batch_size = 0;
  EXPECT_THROW(BatchLoader(ds, o).batches_per_epoch(), Error);
  o = small_options();
  o.augment_options.scale_min = 2;
  EXPECT_THROW(BatchLoader(ds, o).batches_per_epoch(), Error);
  ds.pixels.resize(ds.pixels.size() - 1);  // inconsistent sizes
  EXPECT_THROW(BatchLoader(ds, small_options()).batches_per_epoch(), Error);
  Batch b;
  const auto good = random_dataset(20);
  BatchLoader not_started(good, small_options());
  EXPECT_THROW(not_started.next(b), Error);
}

TEST(Loader, GrayscaleAndImageSize) {
  const auto ds = random_dataset(20, 28, 1);
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
  const auto ds = random_dataset(60, 16);
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

/// `batch.pixels` normalized as the loader's float path does, its erasures pasted: [B, 3, S, S].
std::vector<float> normalize_and_erase(const Batch& batch, const ChannelStats& stats) {
  const int64_t plane = batch.image_size * batch.image_size;
  std::vector<float> out(batch.pixels.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<size_t>(static_cast<int64_t>(i) / plane % 3);
    out[i] = (static_cast<float>(batch.pixels[i]) / 255.f - stats.mean[c]) / stats.std[c];
  }
  const int s = static_cast<int>(batch.image_size);
  for (const BatchErasure& e : batch.erasures)
    paste_erasure(e.box, batch.erase_noise.data() + e.offset, 3, s, s,
                  out.data() + e.row * 3 * plane);
  return out;
}

TEST(Loader, Uint8PixelsAreTheFloatBatchBeforeNormalizing) {
  auto o = small_options(8, 2);
  o.image_size = 12;
  o.stats = {{0.4f, 0.5f, 0.6f}, {0.2f, 0.25f, 0.3f}};
  auto finetune = o;
  finetune.finetune = FinetuneAugmentOptions{};
  finetune.finetune->erasing.probability = 0.6;
  auto eval = o;
  eval.augment = false;
  int erased = 0;
  for (int64_t channels : {3, 1}) {  // grayscale is repeated into three planes
    const auto ds = random_dataset(40, 16, channels);
    for (const LoaderOptions& floats : {o, finetune, eval}) {
      auto bytes = floats;
      bytes.uint8_pixels = true;
      BatchLoader float_loader(ds, floats), byte_loader(ds, bytes);
      const auto want = collect(float_loader, 1), got = collect(byte_loader, 1);
      ASSERT_EQ(want.size(), got.size());
      for (size_t b = 0; b < want.size(); ++b) {
        EXPECT_TRUE(got[b].images.empty());
        EXPECT_EQ(got[b].pixels.size(), want[b].images.size());
        EXPECT_EQ(got[b].indices, want[b].indices);
        EXPECT_TRUE(want[b].erasures.empty() && want[b].erase_noise.empty());
        EXPECT_TRUE(normalize_and_erase(got[b], o.stats) == want[b].images) << "batch " << b;
        erased += static_cast<int>(got[b].erasures.size());
      }
    }
  }
  EXPECT_GT(erased, 5);  // the fine-tuning loader's erasures were exercised
}

/// A MemoryImageSource whose samples in `bad` fail as a corrupt file would; `varying` claims
/// images of several sizes (native_side 0), as a streamed source does.
class FlakySource : public MemoryImageSource {
 public:
  FlakySource(const Dataset& dataset, std::set<int64_t> bad, bool varying = false)
      : MemoryImageSource(dataset), bad_(std::move(bad)), varying_(varying) {}
  int native_side() const override { return varying_ ? 0 : MemoryImageSource::native_side(); }
  void crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const override {
    check(i);
    MemoryImageSource::crop(i, box, out_size, out);
  }
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override {
    check(i);
    MemoryImageSource::eval(i, out_size, crop_ratio, out);
  }
  std::string sample_name(int64_t i) const override { return "img" + std::to_string(i) + ".jpg"; }

 private:
  void check(int64_t i) const {
    if (bad_.count(i)) throw Error("img" + std::to_string(i) + ".jpg: corrupt JPEG");
  }
  std::set<int64_t> bad_;
  bool varying_;
};

TEST(Loader, SourceConstructorGivesTheDatasetConstructorsBatches) {
  const auto ds = random_dataset(70, 12);
  const MemoryImageSource source(ds);
  for (bool augment : {true, false}) {
    auto o = small_options(16, 2);
    o.augment = augment;
    o.drop_last = false;
    BatchLoader from_dataset(ds, o), from_source(source, o);
    expect_same(collect(from_dataset, 1), collect(from_source, 1));
  }
}

TEST(Loader, CropRatioShrinksTheEvaluationCrop) {
  const auto ds = random_dataset(12, 20);
  auto o = small_options(4, 0);
  o.augment = false;
  o.image_size = 14;
  o.crop_ratio = 0.875f;  // shorter side to 16, center 14
  BatchLoader loader(ds, o);
  std::vector<uint8_t> pixels(14 * 14 * 3);
  std::vector<float> expected(static_cast<size_t>(transformed_floats(14)));
  for (const auto& b : collect(loader, 0)) {
    for (int64_t k = 0; k < b.size; ++k) {
      eval_resize(image_view(ds, b.indices[k]), 14, 0.875f, pixels.data());
      normalize_image({pixels.data(), 14, 14, 3}, o.stats, expected.data());
      ASSERT_TRUE(std::equal(expected.begin(), expected.end(), b.images.begin() + k * 588));
    }
  }
  o.crop_ratio = 0;  // the in-memory default: 1, Resize(14) + CenterCrop(14)
  BatchLoader plain(ds, o);
  const auto batches = collect(plain, 0);
  const auto direct = eval_transform(image_view(ds, batches[0].indices[0]), 14, o.stats);
  EXPECT_TRUE(std::equal(direct.begin(), direct.end(), batches[0].images.begin()));
  o.crop_ratio = 1.5f;
  EXPECT_THROW(BatchLoader(ds, o), Error);
}

TEST(Loader, VaryingImageSizesNeedAnOutputSize) {
  const auto ds = random_dataset(10);
  const FlakySource varying(ds, {}, true);
  auto o = small_options();
  EXPECT_THROW(BatchLoader(varying, o), Error);
  o.image_size = 6;
  EXPECT_EQ(BatchLoader(varying, o).image_size(), 6);
}

TEST(Loader, BadSamplesAreReplacedByTheNextInEpochOrderCountedAndNamed) {
  const auto ds = random_dataset(100, 10);
  const std::set<int64_t> bad_indices{7, 8, 31};
  const FlakySource source(ds, bad_indices);
  for (bool augment : {true, false}) {
    auto o = small_options(10, 1);
    o.augment = augment;
    o.max_bad_fraction = 0.05;
    BatchLoader one(source, o);
    const auto reference = collect(one, 4);
    // Every batch is full, no bad sample is used, and each bad position holds the next sample in
    // epoch order that decodes, with the failed position's augmentation stream.
    const auto order = BatchLoader::epoch_order(100, o.seed, 4, true);
    std::set<int64_t> positions;
    for (size_t b = 0; b < reference.size(); ++b) {
      ASSERT_EQ(reference[b].size, 10);
      for (int64_t k = 0; k < 10; ++k) {
        const int64_t position = static_cast<int64_t>(b) * 10 + k;
        EXPECT_EQ(bad_indices.count(reference[b].indices[k]), 0u);
        int64_t expected = position;
        while (bad_indices.count(order[expected])) ++expected;
        EXPECT_EQ(reference[b].indices[k], order[expected]) << "position " << position;
        EXPECT_EQ(reference[b].labels[k], ds.labels[order[expected]]);
        if (expected != position) positions.insert(position);
      }
    }
    ASSERT_EQ(one.bad_samples().size(), 3u);
    std::set<int64_t> named, at;
    for (const BadSample& s : one.bad_samples()) {
      named.insert(s.index);
      at.insert(s.position);
      EXPECT_EQ(s.name, "img" + std::to_string(s.index) + ".jpg");
      EXPECT_EQ(s.message, s.name + ": corrupt JPEG");
      EXPECT_EQ(order[s.position], s.index);
      EXPECT_EQ(bad_indices.count(s.replacement), 0u);
    }
    EXPECT_EQ(named, bad_indices);
    EXPECT_EQ(at, positions);
    // The same stream for any worker count, and the shards of it concatenate to it.
    for (int workers : {0, 3}) {
      o.workers = workers;
      BatchLoader other(source, o);
      expect_same(reference, collect(other, 4));
      EXPECT_EQ(other.bad_samples().size(), 3u);
    }
    o.workers = 2;
    o.shards = 2;
    for (int shard = 0; shard < 2; ++shard) {
      o.shard = shard;
      BatchLoader half(source, o);
      const auto slices = collect(half, 4);
      for (size_t b = 0; b < slices.size(); ++b)
        for (int64_t k = 0; k < 5; ++k)
          EXPECT_EQ(slices[b].indices[k], reference[b].indices[shard * 5 + k]);
    }
    // A new epoch starts a new count.
    one.start_epoch(5);
    EXPECT_TRUE(one.bad_samples().empty());
  }
}

/// The default logger's output, captured while this lives.
class CapturedLog {
 public:
  CapturedLog() {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)));
  }
  ~CapturedLog() { spdlog::set_default_logger(saved_); }
  std::string str() const { return text_.str(); }

 private:
  std::shared_ptr<spdlog::logger> saved_ = spdlog::default_logger();
  std::ostringstream text_;
};

TEST(Loader, BadSamplesAreLoggedWithTheEpochsLastBatch) {
  // A trainer takes exactly batches_per_epoch() batches and never calls next() once more.
  const auto ds = random_dataset(40, 10);
  const FlakySource source(ds, {5});
  for (int workers : {0, 2}) {
    const CapturedLog log;
    auto o = small_options(10, workers);
    o.max_bad_fraction = 0.05;
    BatchLoader loader(source, o);
    loader.start_epoch(0);
    Batch b;
    for (int64_t i = 0; i + 1 < loader.batches_per_epoch(); ++i) ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(log.str().find("img5.jpg"), std::string::npos) << "logged before the epoch ended";
    ASSERT_TRUE(loader.next(b));
    EXPECT_NE(log.str().find("epoch 0: 1 bad sample(s) skipped"), std::string::npos) << log.str();
    EXPECT_NE(log.str().find("img5.jpg: corrupt JPEG"), std::string::npos) << log.str();
    EXPECT_FALSE(loader.next(b));
    EXPECT_EQ(log.str().find("img5.jpg"), log.str().rfind("img5.jpg")) << "logged twice";
  }
}

TEST(Loader, TooManyBadSamplesStopTheEpochWithTheirNames) {
  const auto ds = random_dataset(100, 10);
  const FlakySource source(ds, {3, 50, 51, 77});
  for (int workers : {0, 1, 3}) {
    auto o = small_options(10, workers);
    o.shuffle = false;
    o.max_bad_fraction = 0.025;  // 2.5 of 100 samples: the third bad sample (batch 5) is too many
    BatchLoader loader(source, o);
    loader.start_epoch(0);
    Batch b;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(loader.next(b)) << workers << " workers";
    try {
      loader.next(b);
      FAIL() << "no error with " << workers << " workers";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("3 bad samples in epoch 0"), std::string::npos) << message;
      EXPECT_NE(message.find("img3.jpg: corrupt JPEG; img50.jpg: corrupt JPEG; img51.jpg"),
                std::string::npos)
          << message;
    }
    EXPECT_THROW(loader.next(b), Error);  // stays failed until start_epoch
  }
  // The default (0.001 of 100 samples) allows none.
  auto o = small_options(10, 2);
  o.shuffle = false;
  BatchLoader strict(source, o);
  strict.start_epoch(0);
  Batch b;
  EXPECT_THROW(strict.next(b), Error);
  // A run of bad samples longer than the epoch may hold stops where it is found.
  const FlakySource all_bad(ds, [] {
    std::set<int64_t> s;
    for (int64_t i = 0; i < 100; ++i) s.insert(i);
    return s;
  }());
  o.max_bad_fraction = 0.5;
  BatchLoader hopeless(all_bad, o);
  hopeless.start_epoch(0);
  try {
    hopeless.next(b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("samples in a row fail to decode"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace clustermim
