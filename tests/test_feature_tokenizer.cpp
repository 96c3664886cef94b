/*
 * Feature K-means tokenizer: tokens come from the teacher's patch features at the chosen block,
 * renormalized to the teacher's statistics; the file embeds the teacher and reloads to the same
 * tokens and, scored over a dataset, to the same token-class counts; geometry mismatches are
 * errors.
 */
#include <gtest/gtest.h>

#include "core/error.h"
#include "data/transforms.h"
#include "metrics/tcas.h"
#include "support/fixtures.h"
#include "tokenizers/feature_kmeans.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {
namespace {

using testing::TempDir;

FrozenEncoder tiny_teacher(const ChannelStats& stats) {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  torch::manual_seed(4);
  FrozenEncoder t;
  t.encoder = VisionTransformer(c);
  t.encoder->eval();
  t.stats = stats;
  t.source = "tiny";
  return t;
}

FeatureKMeansOptions tiny_options() {
  FeatureKMeansOptions o;
  o.vocab = 4;
  o.patch_size = 2;
  o.max_patches = 500;
  o.iterations = 10;
  o.workers = 1;
  o.bf16 = false;
  return o;
}

TEST(FeatureKMeans, TokensAreNearestCentroidsOfTeacherFeatures) {
  const Dataset d = testing::make_color_dataset(32, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  for (int64_t block : {0, -1}) {
    FeatureKMeansOptions o = tiny_options();
    o.block = block;
    const auto tok = fit_feature_kmeans(tiny_teacher(stats), d, stats, o, torch::kCPU);
    torch::manual_seed(0);
    const torch::Tensor x = torch::randn({3, 3, 8, 8});
    const torch::Tensor tokens = tok->tokenize({x, torch::zeros({3}, torch::kLong), torch::arange(3)});
    ASSERT_EQ(tokens.sizes(), torch::IntArrayRef({3, 16}));
    torch::Tensor f;
    {
      torch::NoGradGuard no_grad;
      f = tiny_teacher(stats).encoder->forward_block_features(x, block).slice(1, 1);
    }
    const torch::Tensor dist = torch::cdist(f.reshape({48, 16}), tok->centroids());
    EXPECT_TRUE(torch::equal(tokens.reshape({48}), dist.argmin(1))) << "block " << block;
  }
}

TEST(FeatureKMeans, RenormalizesToTheTeachersStatistics) {
  ChannelStats data, teacher;
  data.mean = {0.5f, 0.4f, 0.3f};
  data.std = {0.2f, 0.25f, 0.3f};
  teacher.mean = {0.1f, 0.2f, 0.3f};
  teacher.std = {0.5f, 0.5f, 0.5f};
  FrozenEncoder t = tiny_teacher(teacher);
  torch::manual_seed(1);
  const torch::Tensor pixels = torch::rand({2, 3, 8, 8});
  auto normalize = [&](const ChannelStats& s) {
    return (pixels - torch::tensor(std::vector<float>(s.mean.begin(), s.mean.end())).view({1, 3, 1, 1})) /
           torch::tensor(std::vector<float>(s.std.begin(), s.std.end())).view({1, 3, 1, 1});
  };
  const torch::Tensor via_data = teacher_patch_features(t, normalize(data), data, -1, false, false);
  torch::NoGradGuard no_grad;
  const torch::Tensor direct = t.encoder->forward_features(normalize(teacher)).slice(1, 1);
  EXPECT_TRUE(torch::allclose(via_data, direct, 1e-4, 1e-5));
}

TEST(FeatureKMeans, FileEmbedsTheTeacherAndReloads) {
  TempDir dir;
  const Dataset d = testing::make_color_dataset(32, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  FeatureKMeansOptions o = tiny_options();
  o.normalize = true;
  const auto tok = fit_feature_kmeans(tiny_teacher(stats), d, stats, o, torch::kCPU);
  tok->save(dir.file("f.cmtk"));
  const auto back = load_tokenizer(dir.file("f.cmtk"));
  ASSERT_EQ(back->spec().kind, "feature-kmeans");
  torch::manual_seed(2);
  const TokenizerInput in{torch::randn({4, 3, 8, 8}), torch::zeros({4}, torch::kLong), torch::arange(4)};
  EXPECT_TRUE(torch::equal(tok->tokenize(in), back->tokenize(in)));
  // Scored over the dataset, the reloaded file counts exactly the tokens the fitted tokenizer
  // gives the eval-transformed images (its stats and geometry came back too).
  std::vector<float> pixels;
  for (int64_t i = 0; i < d.size(); ++i) {
    const std::vector<float> x = eval_transform(image_view(d, i), 8, stats);
    pixels.insert(pixels.end(), x.begin(), x.end());
  }
  const torch::Tensor images = torch::from_blob(pixels.data(), {d.size(), 3, 8, 8}).clone();
  const torch::Tensor labels = torch::tensor(std::vector<int64_t>(d.labels.begin(), d.labels.end()));
  const torch::Tensor tokens = tok->tokenize({images, labels, torch::arange(d.size())}).contiguous();
  TokenClassCounts expected(o.vocab, d.num_classes());
  expected.add(tokens.data_ptr<int64_t>(), labels.data_ptr<int64_t>(), d.size(), tokens.size(1));
  const TokenClassCounts counted = count_token_classes(*back, d, 1, torch::kCPU);
  ASSERT_EQ(counted.total(), d.size() * 16);
  for (int64_t k = 0; k < o.vocab; ++k) {
    for (int64_t c = 0; c < d.num_classes(); ++c) {
      EXPECT_EQ(counted.count(k, c), expected.count(k, c)) << "token " << k << " class " << c;
    }
  }
  const TcasReport r = compute_tcas(counted), want = compute_tcas(expected);
  EXPECT_DOUBLE_EQ(r.tcas, want.tcas);
  EXPECT_DOUBLE_EQ(r.nmi, want.nmi);
  EXPECT_EQ(dynamic_cast<const FeatureKMeansTokenizer&>(*back).teacher().source, "tiny");
}

TEST(FeatureKMeans, GeometryMismatchIsAnError) {
  const Dataset d = testing::make_color_dataset(16, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  FeatureKMeansOptions o = tiny_options();
  o.patch_size = 4;  // token grid 2, teacher grid 4
  EXPECT_THROW(fit_feature_kmeans(tiny_teacher(stats), d, stats, o, torch::kCPU), Error);
  o = tiny_options();
  o.block = 5;  // the teacher has 2 blocks
  EXPECT_THROW(fit_feature_kmeans(tiny_teacher(stats), d, stats, o, torch::kCPU), Error);
  BuildOptions b;
  b.fit.patch_size = 2;
  EXPECT_THROW(build_tokenizer(parse_tokenizer_request("feature-kmeans:4"), d, stats, b, torch::kCPU),
               Error) << "no teacher given";
}

}  // namespace
}  // namespace clustermim
