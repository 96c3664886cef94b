/*
 * Tests of random erasing (timm RandomErasing p 0.25, pixel mode, one box) and of the seeded
 * Normal / Gamma / Beta draws it and mixup use: box area and placement, the erasing frequency,
 * N(0, 1) fill statistics, per-seed determinism, and the draws' moments.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/random_draws.h"
#include "data/random_erasing.h"

namespace clustermim {
namespace {

constexpr int kSize = 64;

std::vector<float> ramp_image() {
  std::vector<float> img(3 * kSize * kSize);
  for (size_t i = 0; i < img.size(); ++i) img[i] = 100.f + static_cast<float>(i);  // never N(0,1)
  return img;
}

TEST(RandomErasing, BoxAreaAndPlacement) {
  RandomErasingOptions options;
  options.probability = 1;
  const double area = kSize * kSize;
  int boxes = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    auto img = ramp_image();
    const auto original = img;
    Rng rng(seed);
    const auto box = random_erasing(img.data(), 3, kSize, kSize, options, rng);
    if (!box) continue;
    ++boxes;
    ASSERT_GE(box->top, 0);
    ASSERT_GE(box->left, 0);
    ASSERT_LT(box->height, kSize);
    ASSERT_LT(box->width, kSize);
    ASSERT_LE(box->top + box->height, kSize);
    ASSERT_LE(box->left + box->width, kSize);
    // The area fraction is in [0.02, 1/3] up to the rounding of each side (+-0.5 pixel).
    const double slack = 0.5 * (box->height + box->width) + 0.25;
    const double erased = static_cast<double>(box->height) * box->width;
    ASSERT_GE(erased, 0.02 * area - slack);
    ASSERT_LE(erased, area / 3 + slack);
    const double aspect = static_cast<double>(box->height) / box->width;
    ASSERT_GT(aspect, 0.3 * 0.8);
    ASSERT_LT(aspect, 1 / 0.3 / 0.8);
    // Inside the box every value is new, outside none is.
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < kSize; ++y)
        for (int x = 0; x < kSize; ++x) {
          const size_t i = (static_cast<size_t>(c) * kSize + y) * kSize + x;
          const bool inside = y >= box->top && y < box->top + box->height && x >= box->left &&
                              x < box->left + box->width;
          ASSERT_EQ(img[i] != original[i], inside);
        }
  }
  EXPECT_GE(boxes, 290);  // with p = 1 an attempt fails only for very elongated draws
}

TEST(RandomErasing, ZeroProbabilityNeverErases) {
  RandomErasingOptions options;
  options.probability = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto img = ramp_image();
    Rng rng(seed);
    ASSERT_FALSE(random_erasing(img.data(), 3, kSize, kSize, options, rng));
    ASSERT_EQ(img, ramp_image());
  }
}

TEST(RandomErasing, FrequencyIsNearTheProbability) {
  const RandomErasingOptions options;  // p = 0.25
  std::vector<float> img(3 * 16 * 16);
  int erased = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    Rng rng(seed * 7919 + 1);
    erased += random_erasing(img.data(), 3, 16, 16, options, rng).has_value();
  }
  // Binomial(2000, ~0.25): sd ~19, so +-100 is over 5 sd; the seeds are fixed anyway.
  EXPECT_NEAR(erased, 500, 100);
}

TEST(RandomErasing, FillIsStandardNormalAndDeterministic) {
  RandomErasingOptions options;
  options.probability = 1;
  options.min_area = options.max_area = 0.3;
  auto a = ramp_image(), b = ramp_image();
  Rng ra(5), rb(5);
  const auto box = random_erasing(a.data(), 3, kSize, kSize, options, ra);
  ASSERT_TRUE(box);
  random_erasing(b.data(), 3, kSize, kSize, options, rb);
  EXPECT_EQ(a, b);
  double sum = 0, sq = 0;
  int n = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] < 50) sum += a[i], sq += a[i] * a[i], ++n;
  EXPECT_EQ(n, 3 * box->height * box->width);
  EXPECT_NEAR(sum / n, 0.0, 0.05);
  EXPECT_NEAR(sq / n, 1.0, 0.07);
  auto c = ramp_image();
  Rng rc(6);
  random_erasing(c.data(), 3, kSize, kSize, options, rc);
  EXPECT_NE(a, c);
}

TEST(RandomErasing, DrawThenPasteIsRandomErasing) {
  RandomErasingOptions options;
  options.probability = 0.7;
  int boxes = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto erased = ramp_image(), pasted = ramp_image();
    Rng a(seed), b(seed);
    const auto want = random_erasing(erased.data(), 3, kSize, kSize, options, a);
    std::vector<float> noise{-7.f};  // draws append after what is there
    const auto got = draw_erasing(3, kSize, kSize, options, b, noise);
    ASSERT_EQ(want.has_value(), got.has_value());
    EXPECT_EQ(a(), b());  // the same number of draws
    if (!got) {
      EXPECT_EQ(noise.size(), 1u);
      continue;
    }
    ++boxes;
    EXPECT_EQ(noise.size(), 1u + static_cast<size_t>(3 * got->height * got->width));
    paste_erasure(*got, noise.data() + 1, 3, kSize, kSize, pasted.data());
    EXPECT_EQ(erased, pasted);
  }
  EXPECT_GT(boxes, 5);
}

TEST(RandomErasing, RejectsBadOptions) {
  RandomErasingOptions o;
  o.probability = -0.1;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.min_area = 0.5;
  o.max_area = 0.4;
  EXPECT_THROW(validate(o), Error);
  o = {};
  o.min_aspect = 0;
  EXPECT_THROW(validate(o), Error);
  EXPECT_NO_THROW(validate(RandomErasingOptions{}));
}

/// Sample mean and variance of `n` draws.
template <typename Draw>
std::pair<double, double> moments(Draw draw, int n) {
  double sum = 0, sq = 0;
  for (int i = 0; i < n; ++i) {
    const double v = draw();
    sum += v;
    sq += v * v;
  }
  const double mean = sum / n;
  return {mean, sq / n - mean * mean};
}

TEST(RandomDraws, NormalGammaBetaMoments) {
  Rng rng(42);
  const auto [nm, nv] = moments([&] { return normal01(rng); }, 40000);
  EXPECT_NEAR(nm, 0.0, 0.03);
  EXPECT_NEAR(nv, 1.0, 0.03);
  for (const double shape : {0.8, 1.0, 2.5}) {  // Gamma(k): mean k, variance k
    const auto [gm, gv] = moments([&] { return gamma_draw(rng, shape); }, 40000);
    EXPECT_NEAR(gm, shape, 0.03 * shape + 0.02) << shape;
    EXPECT_NEAR(gv, shape, 0.08 * shape + 0.03) << shape;
  }
  for (const double a : {0.8, 1.0}) {  // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1))
    const auto [bm, bv] = moments([&] { return beta_draw(rng, a, a); }, 40000);
    EXPECT_NEAR(bm, 0.5, 0.01) << a;
    EXPECT_NEAR(bv, 1.0 / (4 * (2 * a + 1)), 0.005) << a;
  }
  Rng x(7), y(7);
  EXPECT_EQ(beta_draw(x, 0.8, 0.8), beta_draw(y, 0.8, 0.8));
  EXPECT_THROW(gamma_draw(rng, 0), Error);
}

}  // namespace
}  // namespace clustermim
