/*
 * Tests of RandAugment (timm 'rand-m9-mstd0.5-inc1'): each op's level-0 identity where timm's is
 * the identity, hand-computed values of the table ops, the enhance blends and an exact integer
 * translation, and the draw: per-seed determinism, ops 0 / prob 0 leave the image alone.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "data/rand_augment.h"

namespace clustermim {
namespace {

constexpr int kH = 20, kW = 24;
const std::array<uint8_t, 3> kFill{128, 128, 128};

std::vector<uint8_t> noise_image(uint64_t seed, int lo = 0, int hi = 255) {
  Rng rng(seed);
  std::vector<uint8_t> img(static_cast<size_t>(kH) * kW * 3);
  for (auto& v : img) v = static_cast<uint8_t>(uniform_int(rng, lo, hi));
  return img;
}

std::vector<uint8_t> apply(RandAugmentOp op, double level, bool negate, std::vector<uint8_t> img,
                           double translate_pct = 0.45) {
  apply_rand_augment_op(op, level, negate, img.data(), kH, kW, translate_pct, kFill);
  return img;
}

TEST(RandAugment, LevelZeroIsTheIdentityWhereTimmsIs) {
  const auto img = noise_image(1);
  for (const auto op : {RandAugmentOp::kRotate, RandAugmentOp::kSolarizeIncreasing,
                        RandAugmentOp::kSolarizeAdd, RandAugmentOp::kColorIncreasing,
                        RandAugmentOp::kContrastIncreasing, RandAugmentOp::kBrightnessIncreasing,
                        RandAugmentOp::kSharpnessIncreasing, RandAugmentOp::kShearX,
                        RandAugmentOp::kShearY, RandAugmentOp::kTranslateXRel,
                        RandAugmentOp::kTranslateYRel}) {
    for (const bool negate : {false, true})
      EXPECT_EQ(apply(op, 0, negate, img), img) << rand_augment_op_name(op) << " " << negate;
  }
  // timm's AutoContrast, Equalize, Invert have no level, and PosterizeIncreasing keeps 4 bits
  // at level 0: none of them is the identity on noise of a narrow range.
  const auto narrow = noise_image(2, 40, 90);
  for (const auto op : {RandAugmentOp::kAutoContrast, RandAugmentOp::kEqualize,
                        RandAugmentOp::kInvert, RandAugmentOp::kPosterizeIncreasing})
    EXPECT_NE(apply(op, 0, false, narrow), narrow) << rand_augment_op_name(op);
}

TEST(RandAugment, TableOpsMatchPillowsFormulas) {
  const auto img = noise_image(3);
  const auto inverted = apply(RandAugmentOp::kInvert, 5, false, img);
  const auto posterized = apply(RandAugmentOp::kPosterizeIncreasing, 5, false, img);  // 2 bits
  const auto solarized = apply(RandAugmentOp::kSolarizeIncreasing, 5, false, img);   // >= 128
  const auto added = apply(RandAugmentOp::kSolarizeAdd, 10, false, img);             // +110
  const auto black = apply(RandAugmentOp::kPosterizeIncreasing, 10, false, img);     // 0 bits
  for (size_t i = 0; i < img.size(); ++i) {
    const int v = img[i];
    ASSERT_EQ(inverted[i], 255 - v);
    ASSERT_EQ(posterized[i], v & 0xc0);
    ASSERT_EQ(solarized[i], v < 128 ? v : 255 - v);
    ASSERT_EQ(added[i], v < 128 ? std::min(255, v + 110) : v);
    ASSERT_EQ(black[i], 0);
  }
}

TEST(RandAugment, AutoContrastStretchesEachChannel) {
  auto img = noise_image(4, 50, 100);
  img[0] = 50, img[3] = 100;  // channel 0 spans exactly [50, 100]
  const auto out = apply(RandAugmentOp::kAutoContrast, 0, false, img);
  const double scale = 255.0 / 50;  // Pillow: int(v * scale - lo * scale), clipped
  for (size_t i = 0; i < img.size(); i += 3)
    ASSERT_EQ(out[i], static_cast<int>(img[i] * scale + (-50 * scale)));
  EXPECT_EQ(out[0], 0);
  EXPECT_GE(out[3], 254);  // Pillow's double arithmetic can land just under 255
}

TEST(RandAugment, EnhanceBlendsWithTheDegenerateImage) {
  const auto img = noise_image(5);
  // Brightness at level 10: factor 1.9 (negated: 0.1) against black, truncated and clipped.
  const auto bright = apply(RandAugmentOp::kBrightnessIncreasing, 10, false, img);
  const auto dark = apply(RandAugmentOp::kBrightnessIncreasing, 10, true, img);
  for (size_t i = 0; i < img.size(); ++i) {
    ASSERT_EQ(bright[i], std::min(255, static_cast<int>(1.9f * img[i])));
    ASSERT_EQ(dark[i], static_cast<int>(0.1f * img[i]));
  }
  // Color at factor 0.1 pulls the three channels together.
  const auto grey = apply(RandAugmentOp::kColorIncreasing, 10, true, img);
  auto spread = [](const std::vector<uint8_t>& v, size_t i) {
    return std::max({v[i], v[i + 1], v[i + 2]}) - std::min({v[i], v[i + 1], v[i + 2]});
  };
  for (size_t i = 0; i < img.size(); i += 3) ASSERT_LE(spread(grey, i), spread(img, i) / 5 + 1);
}

TEST(RandAugment, IntegerTranslationShiftsAndFills) {
  const auto img = noise_image(6);
  // translate_pct 0.5 at level 2.5: 0.25 * 0.5 * 24 = 3 pixels; output x samples source x + 3.
  const auto out = apply(RandAugmentOp::kTranslateXRel, 2.5, false, img, 0.5);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x)
      for (int c = 0; c < 3; ++c) {
        const uint8_t got = out[(y * kW + x) * 3 + c];
        ASSERT_EQ(got, x + 3 < kW ? img[(y * kW + x + 3) * 3 + c] : kFill[c]) << y << " " << x;
      }
}

TEST(RandAugment, GeometricOpsFillOutsideTheSource) {
  const auto img = noise_image(7);
  const auto sheared = apply(RandAugmentOp::kShearX, 10, false, img);  // x + 0.3 y: bottom right
  const auto rotated = apply(RandAugmentOp::kRotate, 10, false, img);  // 30 degrees: corners
  const size_t last = (static_cast<size_t>(kH) * kW - 1) * 3;
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(sheared[last + c], kFill[c]);
    EXPECT_EQ(rotated[c], kFill[c]);
  }
}

TEST(RandAugment, SameSeedSameImageOtherSeedDifferent) {
  const auto img = noise_image(8);
  const RandAugmentOptions options;
  auto run = [&](uint64_t seed) {
    auto out = img;
    Rng rng(seed);
    rand_augment(out.data(), kH, kW, options, rng);
    return out;
  };
  EXPECT_EQ(run(11), run(11));
  int differing = 0;
  for (uint64_t seed = 12; seed < 20; ++seed) differing += run(seed) != run(11);
  EXPECT_GE(differing, 6);
  int changed = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) changed += run(seed) != img;
  EXPECT_GE(changed, 10);  // 2 ops at p 0.5: about 3 in 4 images change
}

TEST(RandAugment, NoOpsOrZeroProbLeaveTheImage) {
  const auto img = noise_image(9);
  RandAugmentOptions none;
  none.ops = 0;
  RandAugmentOptions never;
  never.prob = 0;
  for (const auto& options : {none, never}) {
    for (uint64_t seed = 0; seed < 10; ++seed) {
      auto out = img;
      Rng rng(seed);
      rand_augment(out.data(), kH, kW, options, rng);
      ASSERT_EQ(out, img);
    }
  }
}

TEST(RandAugment, RejectsBadOptions) {
  RandAugmentOptions o;
  o.magnitude = 11;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.prob = 1.5;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.ops = -1;
  EXPECT_THROW(validate(o), Error);
  EXPECT_NO_THROW(validate(RandAugmentOptions{}));
}

}  // namespace
}  // namespace clustermim
