/*
 * Tests of the image transforms: exact normalization, torchvision's center-crop rounding,
 * grayscale expansion, RandomResizedCrop statistics (area, ratio, flips) and invariants of the
 * augmented output; the uint8 crop + normalize split and the fine-tuning transform built on it.
 * Images are built by hand.
 */
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "data/finetune_augment.h"
#include "data/transforms.h"

namespace clustermim {
namespace {

struct TestImage {
  std::vector<uint8_t> pixels;
  int height, width, channels;
  ImageView view() const { return {pixels.data(), height, width, channels}; }
  uint8_t at(int y, int x, int c) const { return pixels[(y * width + x) * channels + c]; }
};

TestImage random_image(int h, int w, int c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TestImage img{std::vector<uint8_t>(static_cast<size_t>(h * w * c)), h, w, c};
  for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

/// value(y, x, c) = (10 * x + y + 50 * c) mod 256: columns are easy to recognize.
TestImage pattern_image(int h, int w, int c) {
  TestImage img{std::vector<uint8_t>(static_cast<size_t>(h * w * c)), h, w, c};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch)
        img.pixels[(y * w + x) * c + ch] = static_cast<uint8_t>((10 * x + y + 50 * ch) % 256);
  return img;
}

ChannelStats test_stats() {
  ChannelStats s;
  s.mean = {0.5f, 0.4f, 0.3f};
  s.std = {0.2f, 0.25f, 0.3f};
  return s;
}

float normalized(uint8_t v, const ChannelStats& s, int c) {
  return (static_cast<float>(v) / 255.f - s.mean[c]) / s.std[c];
}

float out_at(const std::vector<float>& out, int size, int c, int y, int x) {
  return out[(static_cast<size_t>(c) * size + y) * size + x];
}

TEST(Transforms, EvalOnSizedImageIsExactlyNormalize) {
  const auto img = random_image(8, 8, 3, 1);
  const auto stats = test_stats();
  const auto out = eval_transform(img.view(), 8, stats);
  ASSERT_EQ(out.size(), 3u * 8 * 8);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x)
        EXPECT_EQ(out_at(out, 8, c, y, x), normalized(img.at(y, x, c), stats, c));
}

TEST(Transforms, CenterCropPicksTheCenter) {
  const ChannelStats identity;
  // width 8 -> left 2; width 7 -> round(1.5) = 2; width 9 -> round(2.5) = 2 (half to even).
  for (const auto& [w, left] : std::vector<std::pair<int, int>>{{8, 2}, {7, 2}, {9, 2}, {6, 1}}) {
    const auto img = pattern_image(4, w, 3);
    const auto out = eval_transform(img.view(), 4, identity);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x)
          ASSERT_EQ(out_at(out, 4, c, y, x), normalized(img.at(y, x + left, c), identity, c))
              << "width " << w;
  }
  const auto tall = pattern_image(7, 4, 1);  // top = round(1.5) = 2
  const auto out = eval_transform(tall.view(), 4, identity);
  EXPECT_EQ(out_at(out, 4, 0, 0, 1), normalized(tall.at(2, 1, 0), identity, 0));
}

TEST(Transforms, EvalResizesTheShorterSide) {
  TestImage halves{std::vector<uint8_t>(16 * 32), 16, 32, 1};  // left half 0, right half 255
  for (int y = 0; y < 16; ++y)
    for (int x = 16; x < 32; ++x) halves.pixels[y * 32 + x] = 255;
  // -> 8 x 16 (area), center crop columns 4..11: 0 for x < 4, 1 from x = 4.
  const auto out = eval_transform(halves.view(), 8, ChannelStats{});
  for (int x = 0; x < 8; ++x) EXPECT_FLOAT_EQ(out_at(out, 8, 0, 3, x), x < 4 ? 0.f : 1.f);
  TestImage flat{std::vector<uint8_t>(5 * 5 * 3, 77), 5, 5, 3};  // enlarged bicubic: constant
  for (float v : eval_transform(flat.view(), 12, ChannelStats{})) EXPECT_FLOAT_EQ(v, 77.f / 255.f);
}

TEST(Transforms, GrayscaleExpandsToThreeEqualChannels) {
  const auto img = random_image(6, 6, 1, 2);
  const auto out = eval_transform(img.view(), 6, ChannelStats{});
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) {
      EXPECT_EQ(out_at(out, 6, 0, y, x), img.at(y, x, 0) / 255.f);
      EXPECT_EQ(out_at(out, 6, 1, y, x), out_at(out, 6, 0, y, x));
      EXPECT_EQ(out_at(out, 6, 2, y, x), out_at(out, 6, 0, y, x));
    }
}

TEST(Transforms, NormalizationValueOnAPixel) {
  TestImage img{{128, 0, 255}, 1, 1, 3};
  const auto out = eval_transform(img.view(), 1, test_stats());
  EXPECT_NEAR(out[0], (128 / 255.0 - 0.5) / 0.2, 1e-6);
  EXPECT_NEAR(out[1], (0 - 0.4) / 0.25, 1e-6);
  EXPECT_NEAR(out[2], (1 - 0.3) / 0.3, 1e-6);
}

TEST(Transforms, CropAreaAndRatioWithinBounds) {
  Rng rng(3);
  const AugmentOptions options;
  double min_frac = 1, max_frac = 0;
  for (int i = 0; i < 1000; ++i) {
    const CropBox b = sample_crop(224, 224, options, rng);
    ASSERT_TRUE(b.top >= 0 && b.left >= 0 && b.top + b.height <= 224 && b.left + b.width <= 224);
    const double frac = double(b.height) * b.width / (224.0 * 224.0);
    const double ratio = double(b.width) / b.height;
    EXPECT_GE(frac, 0.2 - 0.01);  // rounding w and h to integers moves the area a little
    EXPECT_LE(frac, 1.0);
    EXPECT_GE(ratio, 0.75 - 0.02);
    EXPECT_LE(ratio, 4.0 / 3 + 0.02);
    min_frac = std::min(min_frac, frac);
    max_frac = std::max(max_frac, frac);
  }
  EXPECT_LT(min_frac, 0.3);  // the draws actually span the range
  EXPECT_GT(max_frac, 0.8);
}

TEST(Transforms, CropFallbackIsCentralClampedToRatio) {
  Rng rng(4);
  AugmentOptions options;
  options.hflip = false;
  const CropBox b = sample_crop(10, 1000, options, rng);  // every attempt is too tall
  EXPECT_EQ(b.height, 10);
  EXPECT_EQ(b.width, 13);  // round(10 * 4/3)
  EXPECT_EQ(b.top, 0);
  EXPECT_EQ(b.left, (1000 - 13) / 2);
}

TEST(Transforms, FlipsHappenHalfTheTime) {
  Rng rng(5);
  AugmentOptions options;
  int flips = 0;
  for (int i = 0; i < 1000; ++i) flips += sample_crop(32, 32, options, rng).flipped;
  EXPECT_GT(flips, 420);  // binomial(1000, 0.5): mean 500, sd 15.8; +-5 sd
  EXPECT_LT(flips, 580);
  options.hflip = false;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(sample_crop(32, 32, options, rng).flipped);
}

TEST(Transforms, FlipMirrorsColumns) {
  const auto img = pattern_image(5, 5, 3);
  std::vector<float> plain(transformed_floats(5)), mirrored(transformed_floats(5));
  apply_crop(img.view(), {0, 0, 5, 5, false}, 5, test_stats(), plain.data());
  apply_crop(img.view(), {0, 0, 5, 5, true}, 5, test_stats(), mirrored.data());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 5; ++x)
        EXPECT_EQ(out_at(mirrored, 5, c, y, x), out_at(plain, 5, c, y, 4 - x));
}

TEST(Transforms, TrainOutputIsFiniteAndShaped) {
  const auto img = random_image(32, 32, 3, 6);
  Rng rng(7);
  for (int size : {32, 24, 48}) {
    std::vector<float> out(transformed_floats(size), NAN);
    for (int i = 0; i < 20; ++i) {
      train_transform(img.view(), size, ChannelStats{}, AugmentOptions{}, rng, out.data());
      for (float v : out) ASSERT_TRUE(std::isfinite(v) && v >= 0.f && v <= 1.f);
    }
  }
}

TEST(Transforms, ConstantImageStaysConstant) {
  TestImage img{std::vector<uint8_t>(32 * 32 * 3), 32, 32, 3};
  const uint8_t values[3] = {10, 100, 200};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = values[i % 3];
  const auto stats = test_stats();
  Rng rng(8);
  std::vector<float> out(transformed_floats(32));
  for (int i = 0; i < 100; ++i) {
    train_transform(img.view(), 32, stats, AugmentOptions{}, rng, out.data());
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 32 * 32; ++p)
        ASSERT_EQ(out[c * 1024 + p], normalized(values[c], stats, c));
  }
}

TEST(Transforms, SameSeedSameOutput) {
  const auto img = random_image(32, 32, 3, 9);
  std::vector<float> a(transformed_floats(32)), b(transformed_floats(32));
  Rng rng_a(10), rng_b(10);
  for (int i = 0; i < 10; ++i) {
    const CropBox ca = train_transform(img.view(), 32, ChannelStats{}, {}, rng_a, a.data());
    const CropBox cb = train_transform(img.view(), 32, ChannelStats{}, {}, rng_b, b.data());
    EXPECT_EQ(ca.top, cb.top);
    EXPECT_EQ(ca.width, cb.width);
    EXPECT_EQ(a, b);
  }
}

TEST(Transforms, RejectsBadInput) {
  TestImage two{std::vector<uint8_t>(4 * 4 * 2), 4, 4, 2};
  EXPECT_THROW(eval_transform(two.view(), 4, ChannelStats{}), Error);
  const auto img = random_image(4, 4, 3, 11);
  EXPECT_THROW(eval_transform(img.view(), 0, ChannelStats{}), Error);
  AugmentOptions bad;
  bad.scale_min = 0.9f;
  bad.scale_max = 0.5f;
  EXPECT_THROW(validate(bad), Error);
  bad = AugmentOptions{};
  bad.ratio_min = 0;
  EXPECT_THROW(validate(bad), Error);
}

TEST(Transforms, CropResizeThenNormalizeIsApplyCrop) {
  const auto stats = test_stats();
  for (const int channels : {1, 3}) {
    const auto img = random_image(20, 17, channels, 7);
    for (const CropBox box : {CropBox{2, 3, 11, 9, false}, CropBox{0, 0, 20, 17, true},
                              CropBox{4, 1, 10, 10, true}}) {
      std::vector<float> expected(static_cast<size_t>(transformed_floats(10)));
      apply_crop(img.view(), box, 10, stats, expected.data());
      std::vector<uint8_t> pixels(10 * 10 * 3);
      crop_resize(img.view(), box, 10, pixels.data());
      std::vector<float> got(expected.size());
      normalize_image({pixels.data(), 10, 10, 3}, stats, got.data());
      ASSERT_TRUE(got == expected) << channels << " channels, flipped " << box.flipped;
    }
  }
}

TEST(Transforms, FinetuneIsTrainTransformPlusRandAugmentAndErasing) {
  const auto img = random_image(24, 20, 3, 8);
  const auto stats = test_stats();
  FinetuneAugmentOptions options;
  options.rand_augment.ops = 0;
  options.erasing.probability = 0;
  std::vector<float> a(static_cast<size_t>(transformed_floats(12))), b(a.size());
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng ra(seed), rb(seed);
    const auto draw = finetune_transform(img.view(), 12, stats, options, ra, a.data());
    const auto crop = train_transform(img.view(), 12, stats, options.crop, rb, b.data());
    ASSERT_TRUE(a == b) << seed;
    ASSERT_EQ(draw.crop.top, crop.top);
    ASSERT_EQ(draw.crop.flipped, crop.flipped);
    ASSERT_FALSE(draw.erased);
  }
  // With RandAugment always applied, the same seed gives another image.
  options.rand_augment.ops = 2;
  options.rand_augment.prob = 1;
  int differing = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng ra(seed), rb(seed);
    finetune_transform(img.view(), 12, stats, options, ra, a.data());
    train_transform(img.view(), 12, stats, options.crop, rb, b.data());
    differing += a != b;
  }
  EXPECT_GE(differing, 15);
}

TEST(Transforms, FinetuneTransformIsDeterministicAndAugments) {
  const auto gray = random_image(24, 20, 1, 9);
  const auto stats = test_stats();
  const FinetuneAugmentOptions options;
  auto run = [&](uint64_t seed) {
    std::vector<float> out(static_cast<size_t>(transformed_floats(16)));
    Rng rng(seed);
    finetune_transform(gray.view(), 16, stats, options, rng, out.data());
    return out;
  };
  EXPECT_TRUE(run(3) == run(3));
  EXPECT_FALSE(run(3) == run(4));
  ChannelStats imagenet;
  imagenet.mean = {0.485f, 0.456f, 0.406f};
  EXPECT_EQ(mean_fill(imagenet), (std::array<uint8_t, 3>{124, 116, 104}));  // timm's img_mean
  // With erasing off, every output value is a normalized byte.
  FinetuneAugmentOptions no_erase;
  no_erase.erasing.probability = 0;
  std::vector<float> out(static_cast<size_t>(transformed_floats(16)));
  for (uint64_t seed = 0; seed < 10; ++seed) {
    Rng rng(seed);
    finetune_transform(gray.view(), 16, stats, no_erase, rng, out.data());
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 16 * 16; ++i) {
        const float v = out[c * 256 + i] * stats.std[c] + stats.mean[c];
        ASSERT_GE(v, -1e-5f);
        ASSERT_LE(v, 1 + 1e-5f);
        ASSERT_NEAR(v * 255, std::round(v * 255), 1e-3);
      }
  }
}

}  // namespace
}  // namespace clustermim
