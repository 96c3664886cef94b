/*
 * Tokenizers: pixel K-means separates classes that differ in colour, files round-trip exactly,
 * mismatched or corrupt files fail with a clear message, label and random behave as specified,
 * and tokenizer requests parse.
 */
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"
#include "tokenizers/baseline_tokenizers.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {
namespace {

using testing::TempDir;
using testing::make_color_dataset;

PixelKMeansOptions small_fit(int64_t vocab) {
  PixelKMeansOptions o;
  o.vocab = vocab;
  o.patch_size = 4;
  o.max_patches = 2000;
  o.workers = 1;
  return o;
}

TEST(PixelKMeans, SeparatesColourClasses) {
  const Dataset d = make_color_dataset(64, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  auto tok = fit_pixel_kmeans(d, stats, small_fit(2), torch::kCPU);
  const TcasReport r = compute_tcas(count_token_classes(*tok, d, 1, torch::kCPU));
  EXPECT_EQ(r.k_used, 2);
  EXPECT_DOUBLE_EQ(r.tcas, 0.0);
  EXPECT_EQ(tok->spec().fit.at("patches").get<int64_t>(), 64 * 4);
}

TEST(PixelKMeans, FileRoundTripGivesIdenticalTokens) {
  TempDir dir;
  const Dataset d = make_color_dataset(32, 8, 4);
  const ChannelStats stats = compute_channel_stats(d);
  PixelKMeansOptions o = small_fit(5);
  o.normalize_patches = true;
  auto tok = fit_pixel_kmeans(d, stats, o, torch::kCPU);
  tok->save(dir.file("t.cmtk"));
  auto loaded = load_tokenizer(dir.file("t.cmtk"));
  ASSERT_EQ(loaded->spec().kind, "pixel-kmeans");
  EXPECT_EQ(loaded->spec().vocab, 5);
  EXPECT_EQ(loaded->spec().image_size, 8);
  EXPECT_EQ(loaded->spec().stats.mean, stats.mean);
  EXPECT_EQ(loaded->spec().fit, tok->spec().fit);
  const torch::Tensor images = torch::randn({6, 3, 8, 8});
  EXPECT_TRUE(torch::equal(tok->tokenize({images, {}, {}}), loaded->tokenize({images, {}, {}})));
}

TEST(PixelKMeans, MismatchedImageSizeIsAClearError) {
  const Dataset d = make_color_dataset(16, 8, 2);
  auto tok = fit_pixel_kmeans(d, compute_channel_stats(d), small_fit(2), torch::kCPU);
  Dataset other = make_color_dataset(16, 12, 2);
  other.source = "other.idx";
  try {
    count_token_classes(*tok, other, 1, torch::kCPU);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("other.idx"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fitted on 8x8"), std::string::npos) << msg;
  }
}

TEST(TokenizerFile, CorruptFileNamesFileAndProblem) {
  TempDir dir;
  const std::string path = dir.file("t.cmtk");
  TokenizerSpec spec;
  spec.image_size = 8;
  make_random_tokenizer(spec, 16, 1)->save(path);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);
    f.put('#');
  }
  try {
    load_tokenizer(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
  }
  EXPECT_THROW(load_tokenizer(dir.file("missing.cmtk")), Error);
}

TEST(LabelTokenizer, EveryPatchGetsItsImageClass) {
  TokenizerSpec spec;
  spec.image_size = 8;
  auto tok = make_label_tokenizer(spec, 3);
  const torch::Tensor labels = torch::tensor({2, 0, 1}, torch::kLong);
  const torch::Tensor t = tok->tokenize({torch::zeros({3, 3, 8, 8}), labels, {}});
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(torch::equal(t, labels.unsqueeze(1).expand({3, 4})));
  EXPECT_THROW(tok->tokenize({torch::zeros({2, 3, 8, 8}), torch::tensor({1, -1}), {}}), Error)
      << "an unlabeled image (-1) has no token";
}

TEST(RandomTokenizer, DeterministicUniformAndSurvivesSaving) {
  TempDir dir;
  TokenizerSpec spec;
  spec.image_size = 32;
  auto tok = make_random_tokenizer(spec, 16, 42);
  const torch::Tensor images = torch::zeros({200, 3, 32, 32});
  const torch::Tensor indices = torch::arange(200, torch::kLong);
  const torch::Tensor a = tok->tokenize({images, {}, indices});
  EXPECT_TRUE(torch::equal(a, tok->tokenize({images, {}, indices})));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 16);
  // 12800 draws over 16 tokens: each count ~800 +- 27; allow 6 sigma.
  const torch::Tensor counts = torch::bincount(a.flatten(), {}, 16);
  EXPECT_LT((counts - 800).abs().max().item<int64_t>(), 170) << counts;
  // Another image index gives other tokens; another seed too.
  EXPECT_FALSE(torch::equal(a.slice(0, 0, 100), a.slice(0, 100, 200)));
  EXPECT_FALSE(torch::equal(a, make_random_tokenizer(spec, 16, 43)->tokenize({images, {}, indices})));
  tok->save(dir.file("r.cmtk"));
  EXPECT_TRUE(torch::equal(a, load_tokenizer(dir.file("r.cmtk"))->tokenize({images, {}, indices})));
}

TEST(TokenizerRequest, ParsesKindsAndRejectsNonsense) {
  EXPECT_EQ(parse_tokenizer_request("pixel-kmeans:64").vocab, 64);
  EXPECT_EQ(parse_tokenizer_request("random").kind, "random");
  EXPECT_EQ(parse_tokenizer_request("label").vocab, 0);
  EXPECT_THROW(parse_tokenizer_request("label:5"), Error);
  EXPECT_THROW(parse_tokenizer_request("pixel-kmeans:abc"), Error);
  EXPECT_THROW(parse_tokenizer_request("pixel-kmeans:0"), Error);
  EXPECT_THROW(parse_tokenizer_request("no-such-kind"), Error);
}

}  // namespace
}  // namespace clustermim
