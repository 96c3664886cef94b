/*
 * Evaluation protocols: k-NN separates separable features and weights its vote by similarity,
 * reads its bank in blocks and float16 features within half a point of float32, the linear probe
 * learns separable features deterministically with SGD and LARS (and float16 ones alike), the cosine
 * schedule has the documented shape, feature extraction pools CLS / mean in dataset order, and
 * feature files round-trip and fail clearly when damaged.
 */
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>

#include "core/error.h"
#include "eval/features.h"
#include "eval/knn.h"
#include "eval/linear_probe.h"
#include "train/schedule.h"
#include "io/tensor_file.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

using testing::TempDir;

/// `per_class` points around each of `classes` centres (N(0, 3^2) per coordinate) with unit
/// noise; `centre_seed` fixes the centres, `seed` the noise, so train and test can share centres.
FeatureSet make_clusters(int64_t classes, int64_t per_class, int64_t dim, uint64_t seed,
                         uint64_t centre_seed = 1) {
  at::Generator centre_gen = at::detail::createCPUGenerator(centre_seed);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const torch::Tensor centres = 3 * torch::randn({classes, dim}, centre_gen);
  const torch::Tensor labels = torch::arange(classes).repeat({per_class});
  return {centres.index_select(0, labels) + torch::randn({classes * per_class, dim}, gen), labels};
}

/// Expects `fn` to throw Error whose message contains `needle`.
template <typename Fn>
void expect_error_containing(Fn fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "no Error thrown (expected one mentioning '" << needle << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// ---- k-NN --------------------------------------------------------------------------------------

TEST(Knn, SeparatesSeparableClusters) {
  const FeatureSet train = make_clusters(10, 100, 32, 2), test = make_clusters(10, 20, 32, 3);
  const KnnResult r = knn_classify(train, test, 10);
  EXPECT_DOUBLE_EQ(r.top1, 1.0);
  EXPECT_GE(r.top5, r.top1);
}

TEST(Knn, ChunkSizeDoesNotChangeTheResult) {
  // Overlapping clusters, so that accuracy is neither 0 nor 1.
  FeatureSet train = make_clusters(5, 60, 8, 4), test = make_clusters(5, 30, 8, 5);
  train.features = train.features / 3 + torch::randn_like(train.features);
  test.features = test.features / 3 + torch::randn_like(test.features);
  KnnOptions whole, chunked;
  chunked.chunk = 7;
  const KnnResult a = knn_classify(train, test, 5, whole), b = knn_classify(train, test, 5, chunked);
  EXPECT_GT(a.top1, 0.2);
  EXPECT_LT(a.top1, 1.0);
  EXPECT_GE(a.top5, a.top1);
  EXPECT_DOUBLE_EQ(a.top1, b.top1);
  EXPECT_DOUBLE_EQ(a.top5, b.top5);
}

/// Overlapping clusters (accuracy neither 0 nor 1): `per_class` rows of each of 10 classes.
FeatureSet overlapping_clusters(int64_t per_class, uint64_t seed) {
  FeatureSet set = make_clusters(10, per_class, 16, seed);
  at::Generator gen = at::detail::createCPUGenerator(seed + 100);
  set.features = set.features / 3 + torch::randn(set.features.sizes(), gen);
  return set;
}

TEST(Knn, BankBlocksDoNotChangeTheResult) {
  const FeatureSet train = overlapping_clusters(30, 10), test = overlapping_clusters(15, 11);
  KnnOptions whole, blocked;
  blocked.bank_block = 13;  // 300 training rows: 24 blocks, the last one of 1 row (< k)
  const KnnResult a = knn_classify(train, test, 10, whole), b = knn_classify(train, test, 10, blocked);
  EXPECT_GT(a.top1, 0.2);
  EXPECT_LT(a.top1, 1.0);
  EXPECT_DOUBLE_EQ(a.top1, b.top1);
  EXPECT_DOUBLE_EQ(a.top5, b.top5);
}

TEST(Knn, Float16FeaturesScoreWithinHalfAPointOfFloat32) {
  FeatureSet train = overlapping_clusters(200, 12), test = overlapping_clusters(100, 13);
  KnnOptions o;
  o.bank_block = 500;
  const KnnResult full = knn_classify(train, test, 10, o);
  train.features = train.features.to(torch::kHalf);
  test.features = test.features.to(torch::kHalf);
  const KnnResult half = knn_classify(train, test, 10, o);
  EXPECT_GT(full.top1, 0.2);
  EXPECT_LT(full.top1, 1.0);
  EXPECT_NEAR(half.top1, full.top1, 0.005);
  EXPECT_NEAR(half.top5, full.top5, 0.005);
}

/// One neighbour of class 0 at cosine 1 and two of class 1 at cosine 0.5 from the query (0 deg).
FeatureSet weighted_vote_train() {
  return {torch::tensor({{1.0f, 0.0f}, {0.5f, 0.866f}, {0.5f, -0.866f}}),
          torch::tensor({0, 1, 1}, torch::kLong)};
}

TEST(Knn, WeightedVoteBeatsMajority) {
  const FeatureSet test{torch::tensor({{2.0f, 0.0f}}), torch::tensor({0}, torch::kLong)};
  KnnOptions o;
  o.k = 3;
  o.temperature = 0.07;  // exp(1 / 0.07) far outweighs 2 exp(0.5 / 0.07): class 0
  EXPECT_DOUBLE_EQ(knn_classify(weighted_vote_train(), test, 2, o).top1, 1.0);
  o.temperature = 100;   // nearly uniform weights: the majority, class 1
  const KnnResult flat = knn_classify(weighted_vote_train(), test, 2, o);
  EXPECT_DOUBLE_EQ(flat.top1, 0.0);
  EXPECT_DOUBLE_EQ(flat.top5, 1.0);  // top min(5, k, classes) = 2 classes
}

TEST(Knn, KLargerThanTrainSetIsClamped) {
  const FeatureSet test{torch::tensor({{2.0f, 0.0f}}), torch::tensor({0}, torch::kLong)};
  KnnOptions three, many;
  three.k = 3;
  many.k = 20;
  EXPECT_DOUBLE_EQ(knn_classify(weighted_vote_train(), test, 2, many).top1,
                   knn_classify(weighted_vote_train(), test, 2, three).top1);
}

TEST(Knn, TinyTemperatureDoesNotOverflow) {
  const FeatureSet test{torch::tensor({{2.0f, 0.0f}}), torch::tensor({0}, torch::kLong)};
  KnnOptions o;
  o.k = 3;
  o.temperature = 1e-4;
  EXPECT_DOUBLE_EQ(knn_classify(weighted_vote_train(), test, 2, o).top1, 1.0);
}

TEST(Knn, RejectsBadInputs) {
  const FeatureSet train = weighted_vote_train();
  const FeatureSet wide{torch::zeros({1, 3}), torch::tensor({0}, torch::kLong)};
  expect_error_containing([&] { knn_classify(train, wide, 2); }, "-d");
  const FeatureSet bad_label{torch::zeros({1, 2}), torch::tensor({5}, torch::kLong)};
  expect_error_containing([&] { knn_classify(train, bad_label, 2); }, "k-NN test features");
  KnnOptions o;
  o.k = 0;
  expect_error_containing([&] { knn_classify(train, train, 2, o); }, "k must be");
}

// ---- linear probe ------------------------------------------------------------------------------

LinearProbeOptions quick_probe() {
  LinearProbeOptions o;
  o.epochs = 10;
  o.batch_size = 256;
  return o;
}

TEST(LinearProbe, LearnsSeparableFeatures) {
  const FeatureSet train = make_clusters(10, 200, 32, 6), test = make_clusters(10, 50, 32, 7);
  const LinearProbeResult r = linear_probe(train, test, 10, quick_probe());
  EXPECT_GT(r.top1, 0.95);
  EXPECT_GT(r.train_top1, 0.95);
  EXPECT_GE(r.top5, r.top1);
  ASSERT_EQ(r.epoch_loss.size(), 10u);
  EXPECT_LT(r.epoch_loss.back(), 0.5 * r.epoch_loss.front());
  EXPECT_GT(r.seconds, 0);
}

TEST(LinearProbe, Float16FeaturesLearnAsFloat32) {
  FeatureSet train = overlapping_clusters(100, 14), test = overlapping_clusters(50, 15);
  const LinearProbeResult full = linear_probe(train, test, 10, quick_probe());
  train.features = train.features.to(torch::kHalf);
  test.features = test.features.to(torch::kHalf);
  const LinearProbeResult half = linear_probe(train, test, 10, quick_probe());
  EXPECT_GT(full.top1, 0.2);
  EXPECT_NEAR(half.top1, full.top1, 0.005);
  EXPECT_NEAR(half.epoch_loss.back(), full.epoch_loss.back(), 1e-2);
}

TEST(LinearProbe, DeterministicForASeed) {
  const FeatureSet train = make_clusters(4, 100, 16, 8), test = make_clusters(4, 25, 16, 9);
  LinearProbeOptions o = quick_probe();
  o.epochs = 3;
  o.batch_size = 64;
  const LinearProbeResult a = linear_probe(train, test, 4, o), b = linear_probe(train, test, 4, o);
  EXPECT_EQ(a.top1, b.top1);
  EXPECT_EQ(a.epoch_loss, b.epoch_loss);
  o.seed = 1;
  EXPECT_NE(linear_probe(train, test, 4, o).epoch_loss, a.epoch_loss);
}

TEST(LinearProbe, LarsLearns) {
  const FeatureSet train = make_clusters(10, 200, 32, 10), test = make_clusters(10, 50, 32, 11);
  LinearProbeOptions o = quick_probe();
  o.optimizer = "lars";
  o.lr = 6.4;  // LARS steps are trust_coefficient * ||w|| / ||g|| * lr: MAE's linprobe scale
  o.warmup_epochs = 1;
  const LinearProbeResult r = linear_probe(train, test, 10, o);
  EXPECT_GT(r.top1, 0.95);
  EXPECT_LT(r.epoch_loss.back(), r.epoch_loss.front());
}

TEST(LinearProbe, SingleRowRemainderJoinsThePreviousBatch) {
  // 130 rows in batches of 129: the last row joins the first batch, so each epoch is one step
  // over all 130 rows, the very step that batch 130 takes (same seed, same shuffle). A lone row
  // would break BatchNorm; dropping it, or a second step, would change the losses.
  const FeatureSet train = make_clusters(2, 65, 4, 12), test = make_clusters(2, 5, 4, 13);
  LinearProbeOptions o = quick_probe();
  o.epochs = 3;
  o.batch_size = 130;
  const LinearProbeResult whole = linear_probe(train, test, 2, o);
  o.batch_size = 129;
  const LinearProbeResult joined = linear_probe(train, test, 2, o);
  ASSERT_EQ(joined.epoch_loss.size(), 3u);
  EXPECT_EQ(joined.epoch_loss, whole.epoch_loss);
  EXPECT_EQ(joined.train_top1, whole.train_top1);
  EXPECT_EQ(joined.top1, whole.top1);
  // Batches of 128 leave two rows: a step of its own, hence other losses.
  o.batch_size = 128;
  EXPECT_NE(linear_probe(train, test, 2, o).epoch_loss, whole.epoch_loss);
}

TEST(LinearProbe, RejectsBadOptions) {
  const FeatureSet train = make_clusters(2, 10, 4, 14);
  LinearProbeOptions o = quick_probe();
  o.optimizer = "adam";
  expect_error_containing([&] { linear_probe(train, train, 2, o); }, "unknown optimizer 'adam'");
  expect_error_containing([&] { linear_probe(train, train, 1); }, "labels must lie in [0, 1)");
}

TEST(LinearProbe, CosineScheduleWithWarmup) {
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 0, 110, 10), 0.0);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 5, 110, 10), 0.5);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 10, 110, 10), 1.0);
  EXPECT_NEAR(cosine_lr(1.0, 60, 110, 10), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 110, 110, 10), 0.0);
  EXPECT_NEAR(cosine_lr(1.0, 60, 110, 10, 0.2), 0.6, 1e-12);
  EXPECT_DOUBLE_EQ(cosine_lr(0.4, 0, 100, 0), 0.4);
  for (int64_t s = 11; s < 110; ++s) EXPECT_LT(cosine_lr(1.0, s, 110, 10), cosine_lr(1.0, s - 1, 110, 10));
}

// ---- features ----------------------------------------------------------------------------------

/// Image i (4 x 4 x 3) holds 10 i + 3 c + (4 y + x) at (y, x, c); label i % 3.
Dataset make_ramp_dataset(int64_t n) {
  Dataset d;
  d.name = "ramp";
  d.split = "test";
  d.height = d.width = 4;
  d.channels = 3;
  d.classes = {"a", "b", "c"};
  for (int64_t i = 0; i < n; ++i) {
    d.labels.push_back(static_cast<int32_t>(i % 3));
    for (int64_t p = 0; p < 16; ++p) {
      for (int64_t c = 0; c < 3; ++c) d.pixels.push_back(static_cast<uint8_t>(10 * i + 3 * c + p));
    }
  }
  return d;
}

/// Tokens [B, 1 + 4, 3]: CLS = per-channel max of the image, then the four 2 x 2 quadrant means.
/// The CLS goes through a matmul, whose dtype reveals whether autocast was on.
torch::Tensor fake_encode(const torch::Tensor& images, torch::ScalarType* matmul_dtype) {
  const int64_t b = images.size(0);
  const torch::Tensor cls = torch::matmul(images.amax({2, 3}), torch::eye(3));
  *matmul_dtype = cls.scalar_type();
  const torch::Tensor quadrants = images.view({b, 3, 2, 2, 2, 2}).mean({3, 5}).flatten(2);  // [B,3,4]
  return torch::cat({cls.unsqueeze(1), quadrants.transpose(1, 2).to(cls.scalar_type())}, 1);
}

FeatureOptions small_batches(bool bf16) {
  FeatureOptions o;
  o.batch_size = 3;  // 7 images: a short last batch
  o.bf16 = bf16;
  return o;
}

TEST(Features, PoolsClsAndMeanInDatasetOrder) {
  const Dataset d = make_ramp_dataset(7);
  torch::ScalarType matmul_dtype = torch::kDouble;
  int64_t last_done = 0;
  const PooledFeatures f = extract_features(
      [&](const torch::Tensor& x) { return fake_encode(x, &matmul_dtype); }, d, ChannelStats{},
      small_batches(false), torch::kCPU, [&](int64_t done, int64_t total) {
        EXPECT_EQ(total, 7);
        last_done = done;
      });
  EXPECT_EQ(matmul_dtype, torch::kFloat32);
  EXPECT_EQ(last_done, 7);
  ASSERT_EQ(f.cls.features.sizes(), torch::IntArrayRef({7, 3}));
  ASSERT_EQ(f.mean.features.sizes(), torch::IntArrayRef({7, 3}));
  EXPECT_EQ(f.cls.features.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(f.cls.labels, torch::tensor({0, 1, 2, 0, 1, 2, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(f.mean.labels, f.cls.labels));
  for (int64_t i = 0; i < 7; ++i) {
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_NEAR(f.cls.features[i][c].item<float>(), (10 * i + 3 * c + 15) / 255.0, 1e-5);
      // The mean of patch tokens excludes CLS: the image mean, (10 i + 3 c + 7.5) / 255.
      EXPECT_NEAR(f.mean.features[i][c].item<float>(), (10 * i + 3 * c + 7.5) / 255.0, 1e-5);
    }
  }
  EXPECT_EQ(&f.at(Pooling::Mean), &f.mean);
}

TEST(Features, Bf16AutocastStoresFloat32) {
  const Dataset d = make_ramp_dataset(7);
  torch::ScalarType matmul_dtype = torch::kDouble;
  const PooledFeatures f = extract_features(
      [&](const torch::Tensor& x) { return fake_encode(x, &matmul_dtype); }, d, ChannelStats{},
      small_batches(true), torch::kCPU);
  EXPECT_EQ(matmul_dtype, torch::kBFloat16);
  EXPECT_EQ(f.cls.features.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(f.cls.features[6][2].item<float>(), (60 + 6 + 15) / 255.0, 4e-3);
}

TEST(Features, KeepNoBatchOfTokensAlive) {
  const Dataset d = make_ramp_dataset(7);
  torch::Tensor previous;  // the encoder output of the last call, held only here
  int64_t calls = 0;
  const auto encode = [&](const torch::Tensor& x) {
    if (previous.defined()) {
      EXPECT_EQ(previous.storage().use_count(), 1) << "features still reference batch " << calls;
    }
    ++calls;
    previous = torch::rand({x.size(0), 5, 3});
    return previous;
  };
  extract_features(encode, d, ChannelStats{}, small_batches(false), torch::kCPU);
  EXPECT_EQ(calls, 3) << "7 images in batches of 3: the check above ran twice";
}

TEST(Features, RejectsTokensWithoutPatches) {
  const Dataset d = make_ramp_dataset(2);
  expect_error_containing(
      [&] {
        extract_features([](const torch::Tensor& x) { return x.flatten(1).unsqueeze(1); }, d,
                         ChannelStats{}, small_batches(false), torch::kCPU);
      },
      "expected [B, 1 + L, D]");
}

TEST(Features, PoolingNames) {
  EXPECT_EQ(parse_pooling("cls"), Pooling::Cls);
  EXPECT_EQ(parse_pooling("mean"), Pooling::Mean);
  EXPECT_STREQ(pooling_name(Pooling::Mean), "mean");
  expect_error_containing([] { parse_pooling("max"); }, "unknown pooling 'max'");
}

PooledFeatures random_features() {
  const FeatureSet cls = make_clusters(3, 4, 5, 15);
  return {cls, {cls.features * 2 + 1, cls.labels}};
}

TEST(Features, FileRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("f.cmft");
  const PooledFeatures f = random_features();
  save_features(path, f, {{"split", "test"}});
  nlohmann::json meta;
  const PooledFeatures g = load_features(path, &meta);
  EXPECT_TRUE(torch::equal(g.cls.features, f.cls.features));
  EXPECT_TRUE(torch::equal(g.mean.features, f.mean.features));
  EXPECT_TRUE(torch::equal(g.cls.labels, f.cls.labels));
  EXPECT_TRUE(torch::equal(g.mean.labels, f.cls.labels));
  EXPECT_EQ(meta.at("split"), "test");
}

TEST(Features, DamagedFilesNameTheFile) {
  TempDir dir;
  const std::string path = dir.file("f.cmft");
  save_features(path, random_features());
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(200);
    io.put('\x7f');
  }
  expect_error_containing([&] { load_features(path); }, path);

  TensorFile other;  // a well-formed file of another kind
  other.magic = "CMTK";
  save_tensor_file(path, other);
  expect_error_containing([&] { load_features(path); }, path);

  TensorFile short_labels;  // a "CMFT" file whose labels do not match its rows
  short_labels.magic = "CMFT";
  const std::vector<float> rows(6, 0.f);
  const std::vector<int64_t> labels = {0};
  short_labels.add("cls", DType::F32, {2, 3}, rows.data());
  short_labels.add("mean", DType::F32, {2, 3}, rows.data());
  short_labels.add("labels", DType::I64, {1}, labels.data());
  save_tensor_file(path, short_labels);
  expect_error_containing([&] { load_features(path); }, path + ": inconsistent");

  expect_error_containing([&] { load_features(dir.file("missing.cmft")); }, "missing.cmft");
}

}  // namespace
}  // namespace clustermim
