// TCAS of per-image token ids (metrics/tcas_bootstrap.h): counting, checks, the bootstrap
// interval over images and the paired comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "metrics/tcas_bootstrap.h"

namespace clustermim {
namespace {

/// N images of L patches in C classes; each image draws one "style" token (class-biased) that
/// most of its patches take, so patches of an image are strongly correlated.
TokenLabelSet styled_images(int64_t n, uint32_t seed, int64_t patches = 16, int64_t classes = 4,
                            int64_t vocab = 8) {
  std::mt19937 rng(seed);
  TokenLabelSet s;
  s.images = n;
  s.patches = patches;
  s.vocab = vocab;
  s.num_classes = classes;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(rng() % classes);
    const int32_t style = rng() % 3 == 0 ? static_cast<int32_t>(rng() % vocab) : label * 2;
    s.labels.push_back(label);
    for (int64_t p = 0; p < patches; ++p)
      s.tokens.push_back(rng() % 5 == 0 ? static_cast<int32_t>(rng() % vocab) : style);
  }
  return s;
}

TEST(TcasBootstrap, CountsEqualTheStreamingCounter) {
  const TokenLabelSet s = styled_images(50, 1);
  TokenClassCounts expected(s.vocab, s.num_classes);
  std::vector<int64_t> tokens(s.tokens.begin(), s.tokens.end());
  std::vector<int64_t> labels(s.labels.begin(), s.labels.end());
  expected.add(tokens.data(), labels.data(), s.images, s.patches);
  const TokenClassCounts got = count_token_labels(s.view());
  ASSERT_EQ(got.total(), expected.total());
  for (int64_t k = 0; k < s.vocab; ++k)
    for (int64_t c = 0; c < s.num_classes; ++c) EXPECT_EQ(got.count(k, c), expected.count(k, c));
  EXPECT_DOUBLE_EQ(score_tcas(s.view(), {0}, "t").tcas, compute_tcas(expected).tcas);
}

TEST(TcasBootstrap, IntervalHoldsTheEstimateAndIsReproducible) {
  const TokenLabelSet s = styled_images(300, 2);
  BootstrapOptions options;
  options.seed = 7;
  options.threads = 1;
  const TcasReport r = score_tcas(s.view(), options, "t");
  EXPECT_EQ(r.bootstrap_rounds, 200);
  EXPECT_LT(r.tcas_ci_low, r.tcas);
  EXPECT_GT(r.tcas_ci_high, r.tcas);
  options.threads = 3;
  const Interval again = bootstrap_tcas(s.view(), options);
  EXPECT_EQ(again.low, r.tcas_ci_low);
  EXPECT_EQ(again.high, r.tcas_ci_high);
  options.seed = 8;
  EXPECT_NE(bootstrap_tcas(s.view(), options).low, r.tcas_ci_low);
}

TEST(TcasBootstrap, WidthMatchesTheSpreadAcrossIndependentImageSets) {
  // The interval must reflect image-to-image variation: its width over 2 x 1.96 estimates the
  // standard deviation of TCAS across independent draws of images. A bootstrap over patches
  // (which treats the 16 correlated patches of an image as independent) comes out ~3x too narrow.
  const int64_t n = 100, draws = 300;
  std::vector<double> values;
  for (int64_t d = 0; d < draws; ++d)
    values.push_back(score_tcas(styled_images(n, 100 + d).view(), {0}, "t").tcas);
  double mean = 0, var = 0;
  for (double v : values) mean += v / draws;
  for (double v : values) var += (v - mean) * (v - mean) / (draws - 1);
  const Interval ci = bootstrap_tcas(styled_images(n, 99).view(), {400, 3});
  const double ratio = (ci.high - ci.low) / (2 * 1.96) / std::sqrt(var);
  EXPECT_GT(ratio, 0.7);
  EXPECT_LT(ratio, 1.4);
}

TEST(TcasBootstrap, IntervalCoversTheMeanOverImageSetsOfTheSameSize) {
  // Tokens that follow the image (30 % of its patches take its "style" token) but not its class:
  // TCAS on 500 images is biased low by the same-class pairs inside each image. The interval must
  // cover the mean TCAS over independent sets of 500 images. A resample that also counted the
  // pairs between copies of a drawn image would be biased a second time and miss it every time.
  const int draws = 40;
  std::vector<TokenLabelSet> sets;
  double mean = 0;
  for (int d = 0; d < draws; ++d) {
    TokenLabelSet s = styled_images(500, 500 + d, 16, 2, 64);
    std::mt19937 rng(900 + d);
    for (int64_t i = 0; i < s.images; ++i) {
      const int32_t style = static_cast<int32_t>(rng() % s.vocab);
      for (int64_t p = 0; p < s.patches; ++p)
        s.tokens[i * s.patches + p] = rng() % 10 < 3 ? style : static_cast<int32_t>(rng() % s.vocab);
    }
    mean += score_tcas(s.view(), {0}, "t").tcas / draws;
    sets.push_back(std::move(s));
  }
  EXPECT_LT(mean, 0.995);
  int covered = 0;
  for (int d = 0; d < draws; ++d) {
    const Interval ci = bootstrap_tcas(sets[d].view(), {200, static_cast<uint64_t>(d)});
    covered += ci.low <= mean && mean <= ci.high;
  }
  EXPECT_GE(covered, draws * 8 / 10);
}

TEST(TcasBootstrap, TokensThatIgnoreClassAndImageHaveTheirEstimateInsideTheInterval) {
  // Random tokens: TCAS is 1 up to terms of order 1/N that the spread (about 1e-4 here) is not
  // much larger than. A resample counting the pairs between copies of an image in chance's
  // class frequencies puts the whole interval above the estimate.
  TokenLabelSet s = styled_images(3000, 7, 16, 10, 64);
  std::mt19937 rng(8);
  for (int32_t& t : s.tokens) t = static_cast<int32_t>(rng() % s.vocab);
  const TcasReport r = score_tcas(s.view(), {200, 1}, "t");
  EXPECT_NEAR(r.tcas, 1.0, 1e-3);
  EXPECT_LE(r.tcas_ci_low, r.tcas);
  EXPECT_GE(r.tcas_ci_high, r.tcas);
}

TEST(TcasBootstrap, PerPatchLabelsRepeatingTheImageLabelChangeNothing) {
  const TokenLabelSet s = styled_images(80, 3);
  TokenLabelSet per_patch = s;
  per_patch.labels_per_patch = true;
  per_patch.labels.clear();
  for (int32_t label : s.labels) per_patch.labels.insert(per_patch.labels.end(), s.patches, label);
  const BootstrapOptions options{50, 1};
  const TcasReport a = score_tcas(s.view(), options, "t");
  const TcasReport b = score_tcas(per_patch.view(), options, "t");
  EXPECT_EQ(a.tcas, b.tcas);
  EXPECT_EQ(a.tcas_ci_low, b.tcas_ci_low);
  EXPECT_EQ(a.tcas_ci_high, b.tcas_ci_high);
}

TEST(TcasBootstrap, OneImageHasNoSpreadAndLabelTokensScoreZero) {
  TokenLabelSet s = styled_images(1, 4);
  s.num_classes = 1;
  s.labels = {0};
  const TcasReport one = score_tcas(s.view(), {20, 0}, "t");
  EXPECT_EQ(one.tcas_ci_low, one.tcas_ci_high);

  TokenLabelSet label = styled_images(40, 5);
  for (int64_t i = 0; i < label.images; ++i)
    std::fill_n(label.tokens.begin() + i * label.patches, label.patches, label.labels[i]);
  const TcasReport r = score_tcas(label.view(), {20, 0}, "t");
  EXPECT_EQ(r.tcas, 0.0);
  EXPECT_EQ(r.tcas_ci_low, 0.0);
  EXPECT_EQ(r.tcas_ci_high, 0.0);
}

TEST(TcasBootstrap, PairedComparisonSeesARealDifferenceAndNoneWithItself) {
  const TokenLabelSet styled = styled_images(200, 6);
  TokenLabelSet random = styled;
  std::mt19937 rng(1);
  for (int32_t& t : random.tokens) t = static_cast<int32_t>(rng() % random.vocab);
  const BootstrapOptions options{200, 2};
  const TcasComparison same = compare_tcas(styled.view(), styled.view(), options);
  EXPECT_EQ(same.difference, 0.0);
  EXPECT_EQ(same.interval.low, 0.0);
  EXPECT_EQ(same.interval.high, 0.0);
  EXPECT_EQ(same.p_value, 1.0);

  const TcasComparison diff = compare_tcas(styled.view(), random.view(), options);
  EXPECT_NEAR(diff.difference, score_tcas(styled.view(), {0}, "a").tcas -
                                   score_tcas(random.view(), {0}, "b").tcas, 1e-12);
  EXPECT_LT(diff.interval.high, 0.0);
  EXPECT_LT(diff.interval.low, diff.difference);
  EXPECT_EQ(diff.p_value, 0.0);
}

TEST(TcasBootstrap, BadInputNamesWhatAndWhere) {
  TokenLabelSet s = styled_images(10, 7);
  s.tokens[21] = 8;
  try {
    score_tcas(s.view(), {0}, "my.npy");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "my.npy: token id 8 at image 1 patch 5 is outside [0, 8)");
  }
  s.tokens[21] = 0;
  s.labels[3] = -1;
  EXPECT_THROW(score_tcas(s.view(), {0}, "x"), Error);
  s.labels[3] = 0;
  EXPECT_THROW(score_tcas(s.view(), {-1}, "x"), Error);
  const TokenLabelSet other = styled_images(11, 7);
  EXPECT_THROW(compare_tcas(s.view(), other.view(), {10}), Error);
}

TEST(TcasBootstrap, JsonCarriesTheIntervalOrNulls) {
  const TokenLabelSet s = styled_images(30, 8);
  const nlohmann::json none = tcas_to_json(score_tcas(s.view(), {0}, "t"));
  EXPECT_TRUE(none.at("tcas_ci_low").is_null());
  EXPECT_EQ(none.at("bootstrap_rounds"), 0);
  const TcasReport r = score_tcas(s.view(), {25, 1}, "t");
  const nlohmann::json with = tcas_to_json(r);
  EXPECT_EQ(with.at("tcas_ci_low").get<double>(), r.tcas_ci_low);
  EXPECT_EQ(with.at("tcas_ci_high").get<double>(), r.tcas_ci_high);
  EXPECT_EQ(with.at("bootstrap_rounds"), 25);
}

}  // namespace
}  // namespace clustermim
