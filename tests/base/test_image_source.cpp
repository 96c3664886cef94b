/*
 * Tests of the image sources (data/image_source.h): the in-memory source gives the transforms'
 * pixels (crop_resize, eval_resize at crop ratio 1 = eval_transform), and channel statistics
 * estimated from a sample of images (exact on a whole square dataset, close on a sample,
 * deterministic, bad samples left out). Datasets are built by hand.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/image_source.h"

namespace clustermim {
namespace {

Dataset random_dataset(int64_t n, int64_t height, int64_t width, int64_t channels,
                       uint64_t seed = 9) {
  Dataset d;
  d.name = "synthetic";
  d.height = height;
  d.width = width;
  d.channels = channels;
  d.pixels.resize(static_cast<size_t>(n * height * width * channels));
  std::mt19937_64 rng(seed);
  // Channel c lies in [40 c, 40 c + 150): distinct means per channel.
  for (size_t p = 0; p < d.pixels.size(); ++p)
    d.pixels[p] = static_cast<uint8_t>(40 * static_cast<int64_t>(p % channels) + rng() % 150);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 4));
  d.classes = {"a", "b", "c", "d"};
  return d;
}

std::vector<float> normalized(const std::vector<uint8_t>& pixels, int size,
                              const ChannelStats& stats) {
  std::vector<float> out(static_cast<size_t>(transformed_floats(size)));
  normalize_image({pixels.data(), size, size, 3}, stats, out.data());
  return out;
}

TEST(MemoryImageSource, CropsAndEvalAreTheTransforms) {
  ChannelStats stats;
  stats.mean = {0.4f, 0.45f, 0.5f};
  stats.std = {0.2f, 0.25f, 0.3f};
  for (int64_t channels : {1, 3}) {
    const Dataset ds = random_dataset(5, 20, 26, channels);
    const MemoryImageSource source(ds);
    EXPECT_EQ(source.size(), 5);
    EXPECT_EQ(source.label(3), 3);
    EXPECT_EQ(source.num_classes(), 4);
    EXPECT_EQ(source.native_side(), 20);
    EXPECT_EQ(source.original_size(2).height, 20);
    EXPECT_EQ(source.original_size(2).width, 26);
    EXPECT_EQ(source.default_crop_ratio(), 1.f);
    EXPECT_EQ(source.sample_name(4), "synthetic[4]");
    std::vector<uint8_t> pixels(12 * 12 * 3);
    std::vector<float> expected(static_cast<size_t>(transformed_floats(12)));
    for (int64_t i = 0; i < 5; ++i) {
      Rng a(i), b(i);
      const CropBox box = source.random_crop(i, {}, a, 12, pixels.data());
      const CropBox direct =
          train_transform(image_view(ds, i), 12, stats, {}, b, expected.data());
      EXPECT_EQ(box.top, direct.top);
      EXPECT_EQ(box.left, direct.left);
      EXPECT_EQ(box.height, direct.height);
      EXPECT_EQ(box.width, direct.width);
      EXPECT_EQ(box.flipped, direct.flipped);
      EXPECT_TRUE(normalized(pixels, 12, stats) == expected) << "crop of " << i;
      source.eval(i, 12, 1.f, pixels.data());
      EXPECT_TRUE(normalized(pixels, 12, stats) == eval_transform(image_view(ds, i), 12, stats))
          << "eval of " << i;
    }
  }
  Dataset broken = random_dataset(3, 8, 8, 3);
  broken.pixels.pop_back();
  EXPECT_THROW(MemoryImageSource{broken}, Error);
  EXPECT_THROW(MemoryImageSource{Dataset{}}, Error);
}

TEST(MemoryImageSource, EvalCropRatioCropsTheCenterOfTheResizedImage) {
  // A 16x16 image resized to floor(8 / 0.5) = 16 is not resized: the center 8x8 is a copy.
  const Dataset ds = random_dataset(1, 16, 16, 3);
  const MemoryImageSource source(ds);
  std::vector<uint8_t> pixels(8 * 8 * 3);
  source.eval(0, 8, 0.5f, pixels.data());
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(pixels[(y * 8 + x) * 3 + c], ds.image(0)[((y + 4) * 16 + x + 4) * 3 + c]);
  EXPECT_THROW(source.eval(0, 8, 0.f, pixels.data()), Error);
  EXPECT_THROW(source.eval(0, 8, 1.5f, pixels.data()), Error);
}

TEST(ChannelStatsEstimate, EqualsTheFullPassOnAWholeSquareDataset) {
  for (int64_t channels : {1, 3}) {
    const Dataset ds = random_dataset(40, 12, 12, channels);
    const ChannelStats full = compute_channel_stats(ds);
    const ChannelStats estimate = estimate_channel_stats(MemoryImageSource(ds), 1000, 3);
    for (int c = 0; c < 3; ++c) {
      EXPECT_FLOAT_EQ(estimate.mean[c], full.mean[c]) << "channel " << c;
      EXPECT_FLOAT_EQ(estimate.std[c], full.std[c]) << "channel " << c;
    }
  }
}

TEST(ChannelStatsEstimate, ASampleIsCloseAndDeterministic) {
  const Dataset ds = random_dataset(400, 16, 16, 3);
  const MemoryImageSource source(ds);
  const ChannelStats full = compute_channel_stats(ds);
  const ChannelStats a = estimate_channel_stats(source, 50, 1);
  const ChannelStats b = estimate_channel_stats(source, 50, 1);
  const ChannelStats c = estimate_channel_stats(source, 50, 2);
  bool differs = false;
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(a.mean[k], b.mean[k]);
    EXPECT_EQ(a.std[k], b.std[k]);
    EXPECT_NEAR(a.mean[k], full.mean[k], 0.005);
    EXPECT_NEAR(a.std[k], full.std[k], 0.005);
    differs = differs || a.mean[k] != c.mean[k];
  }
  EXPECT_TRUE(differs);  // another seed, another sample
  EXPECT_NEAR(a.mean[2] - a.mean[0], 80.0 / 255, 0.01);
  EXPECT_THROW(estimate_channel_stats(source, 0), Error);
}

/// Fails on the samples in `bad`, as a corrupt file does.
class FailingSource : public MemoryImageSource {
 public:
  FailingSource(const Dataset& dataset, std::set<int64_t> bad)
      : MemoryImageSource(dataset), bad_(std::move(bad)) {}
  void eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const override {
    if (bad_.count(i)) throw Error("sample " + std::to_string(i) + ": corrupt JPEG");
    MemoryImageSource::eval(i, out_size, crop_ratio, out);
  }

 private:
  std::set<int64_t> bad_;
};

TEST(ChannelStatsEstimate, LeavesOutSamplesThatFailAndErrsWhenNoneDecodes) {
  Dataset ds = random_dataset(4, 8, 8, 3);
  std::fill(ds.pixels.begin() + 3 * 64 * 3, ds.pixels.end(), uint8_t{255});  // image 3: white
  const ChannelStats good = estimate_channel_stats(MemoryImageSource(ds), 10);
  const ChannelStats skipping = estimate_channel_stats(FailingSource(ds, {3}), 10);
  for (int c = 0; c < 3; ++c) EXPECT_LT(skipping.mean[c], good.mean[c]);
  try {
    estimate_channel_stats(FailingSource(ds, {0, 1, 2, 3}), 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 0: corrupt JPEG"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace clustermim
