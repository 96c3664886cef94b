/*
 * Every reuse is checked (issue 20, item 1): feature caches, a run folder's tokenizer and a
 * checkpoint to resume carry the provenance of what produced them. Each test changes one
 * ingredient and watches the reaction: a cache recomputes, a run folder's file is an Error that
 * names the ingredient; and the repro through the binary: `eval knn` of one checkpoint on
 * dataset A, then on dataset B, must not score A's cached features as B's.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/fingerprint.h"
#include "eval/encoder_eval.h"
#include "io/tensor_file.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"
#include "tokenizers/baseline_tokenizers.h"
#include "tokenizers/prepared_tokenizer.h"
#include "train/pretrain.h"

namespace clustermim {
namespace {

using testing::TempDir;
using testing::error_of;
using testing::make_color_dataset;

TEST(Provenance, NamesWhatDiffers) {
  Provenance now, then;
  now.set("tokenizer.seed", "1").set("data", "a@1").set_all("model", nlohmann::json{{"depth", 2}});
  then.set("tokenizer.seed", "0").set("data", "a@1").set_all("model", nlohmann::json{{"depth", 2}});
  EXPECT_EQ(now.describe_mismatch(then), "tokenizer.seed is 0 there, 1 now");
  EXPECT_EQ(now.describe_mismatch(Provenance::from_json(now.to_json())), "");
  then.set("tokenizer.seed", "1").set("extra", "x");
  EXPECT_EQ(now.describe_mismatch(then), "extra is recorded there but not asked for now");
  EXPECT_NE(now.describe_mismatch(Provenance()).find("data is not recorded there"), std::string::npos);
  EXPECT_NE(now.digest(), then.digest());
}

TEST(Provenance, DatasetIdentityFollowsContent) {
  const Dataset a = make_color_dataset(8, 8, 2, 0);
  Dataset b = a;
  EXPECT_EQ(dataset_identity(a), dataset_identity(b));
  b.pixels[5] ^= 1;
  EXPECT_NE(dataset_identity(a), dataset_identity(b));
  b = a;
  b.labels[0] = 1 - b.labels[0];
  EXPECT_NE(dataset_identity(a), dataset_identity(b));
  b = a;
  b.split = "test";
  EXPECT_NE(dataset_identity(a), dataset_identity(b));

  TempDir dir;  // a dataset read from files: its key follows the files
  testing::write_idx(dir.path(), "train", 10);
  testing::write_idx(dir.path(), "t10k", 10);
  DatasetOptions none;
  none.cache_dir = "none";
  const Dataset before = load_dataset(dir.path(), "train", none);
  EXPECT_FALSE(before.key.empty());
  testing::write_idx(dir.path(), "train", 12);
  EXPECT_NE(dataset_identity(before), dataset_identity(load_dataset(dir.path(), "train", none)));
}

VitConfig tiny_vit() {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;
  c.dim = 32;
  c.depth = 1;
  c.heads = 2;
  return c;
}

/// Overwrites the cached features at `path` with zeros, keeping its metadata: a cache hit then
/// returns zeros, a recomputation does not.
void poison(const std::string& path) {
  nlohmann::json meta;
  PooledFeatures f = load_features(path, &meta);
  f.cls.features.zero_();
  f.mean.features.zero_();
  save_features(path, f, meta);
}

bool all_zero(const PooledFeatures& f) { return f.cls.features.abs().sum().item<double>() == 0; }

TEST(FeatureCache, RecomputesWhenAnIngredientChanges) {
  TempDir dir;
  torch::manual_seed(0);
  VisionTransformer encoder(tiny_vit());
  const Dataset data = make_color_dataset(12, 8, 2, 0);
  const ChannelStats stats = compute_channel_stats(data);
  FeatureOptions o;
  o.bf16 = false;
  o.workers = 1;
  const std::string cache = dir.file("cache"), file = cache + "/features-train.cmft";
  encoder_features(encoder, data, stats, o, torch::kCPU, cache);
  poison(file);
  EXPECT_TRUE(all_zero(encoder_features(encoder, data, stats, o, torch::kCPU, cache)))
      << "same inputs: the cache is read";

  const auto recomputes = [&](const std::string& what, const Dataset& d, const ChannelStats& s,
                              const FeatureOptions& opt) {
    poison(file);
    EXPECT_FALSE(all_zero(encoder_features(encoder, d, s, opt, torch::kCPU, cache))) << what;
    encoder_features(encoder, data, stats, o, torch::kCPU, cache);  // back to the base inputs
  };
  recomputes("another dataset", make_color_dataset(12, 8, 2, 1), stats, o);
  Dataset relabelled = data;
  relabelled.labels[0] = 1 - relabelled.labels[0];
  recomputes("other labels", relabelled, stats, o);
  ChannelStats other_stats = stats;
  other_stats.mean[0] += 0.1f;
  recomputes("another normalization", data, other_stats, o);
  FeatureOptions bf16 = o;
  bf16.bf16 = true;
  recomputes("another precision", data, stats, bf16);
  FeatureOptions cropped = o;
  cropped.crop_ratio = 0.875f;
  recomputes("another crop ratio", data, stats, cropped);
  FeatureOptions half = o;
  half.feature_dtype = torch::kHalf;
  recomputes("another feature dtype", data, stats, half);
  {
    torch::NoGradGuard no_grad;
    encoder->parameters()[0].add_(0.01);
  }
  poison(file);
  EXPECT_FALSE(all_zero(encoder_features(encoder, data, stats, o, torch::kCPU, cache)))
      << "other encoder weights";
}

std::unique_ptr<Tokenizer> prepare(const std::string& request, const Dataset& d,
                                   const BuildOptions& b, const std::string& saved) {
  return prepare_tokenizer(parse_tokenizer_request(request), d, compute_channel_stats(d), b,
                           saved, "start over", torch::kCPU);
}

TEST(RunTokenizer, ReusedOnlyUnderTheSameSettings) {
  TempDir dir;
  const std::string saved = dir.file("tokenizer.cmtk");
  const Dataset data = make_color_dataset(16, 8, 2, 0);
  BuildOptions b;
  b.fit.patch_size = 2;
  b.fit.max_patches = 200;
  b.fit.iterations = 2;
  b.fit.workers = 1;
  prepare("pixel-kmeans:4", data, b, saved);
  EXPECT_NO_THROW(prepare("pixel-kmeans:4", data, b, saved));

  const auto refused = [&](const std::string& request, const Dataset& d, const BuildOptions& opt) {
    return error_of([&] { prepare(request, d, opt, saved); });
  };
  BuildOptions seed = b;
  seed.fit.seed = 1;
  std::string msg = refused("pixel-kmeans:4", data, seed);
  EXPECT_NE(msg.find(saved), std::string::npos) << msg;
  EXPECT_NE(msg.find("tokenizer.seed is 0 there, 1 now"), std::string::npos) << msg;
  EXPECT_NE(msg.find("start over"), std::string::npos) << msg;
  EXPECT_NE(refused("pixel-kmeans:8", data, b).find("tokenizer.vocab"), std::string::npos);
  EXPECT_NE(refused("random:4", data, b).find("tokenizer.kind"), std::string::npos);
  BuildOptions patch = b;
  patch.fit.patch_size = 4;
  EXPECT_NE(refused("pixel-kmeans:4", data, patch).find("patch_size"), std::string::npos);
  BuildOptions norm = b;
  norm.fit.normalize_patches = true;
  EXPECT_NE(refused("pixel-kmeans:4", data, norm).find("tokenizer.normalize_patches"),
            std::string::npos);
  EXPECT_NE(refused("pixel-kmeans:4", make_color_dataset(16, 8, 2, 1), b).find("data"),
            std::string::npos);

  load_tokenizer(saved)->save(saved);  // a file that records no provenance
  EXPECT_NE(refused("pixel-kmeans:4", data, b).find("records no provenance"), std::string::npos);
}

MimConfig tiny_mim() {
  MimConfig c;
  c.encoder = tiny_vit();
  c.encoder.depth = 2;
  c.decoder.dim = 16;
  c.decoder.depth = 1;
  c.decoder.heads = 2;
  c.target = "tokens";
  c.vocab = 2;
  return c;
}

PretrainOptions tiny_pretrain(const std::string& out) {
  PretrainOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.bf16 = false;
  o.workers = 1;
  o.max_steps = 1;
  o.out_dir = out;
  return o;
}

TEST(Resume, RefusesACheckpointOfOtherSettings) {
  TempDir dir;
  const Dataset data = make_color_dataset(32, 8, 2, 0);
  const ChannelStats stats = compute_channel_stats(data);
  TokenizerSpec spec;
  spec.image_size = 8;
  spec.patch_size = 2;
  const auto labels = make_label_tokenizer(spec, 2);
  MimModel model(tiny_mim());
  const PretrainResult first = pretrain(model, labels.get(), data, stats, tiny_pretrain(dir.path()),
                                        torch::kCPU, {});
  const auto resume = [&](const MimConfig& mc, const Tokenizer* tok, const Dataset& d,
                          const PretrainOptions& o) {
    MimModel m(mc);
    return error_of([&] { pretrain(m, tok, d, compute_channel_stats(d), o, torch::kCPU, {}, first.checkpoint); });
  };
  PretrainOptions longer = tiny_pretrain(dir.path());
  longer.epochs = 3;  // training longer is a resume, not other settings
  longer.max_steps = 2;
  EXPECT_EQ(resume(tiny_mim(), labels.get(), data, longer), "");

  PretrainOptions lr = tiny_pretrain(dir.path());
  lr.blr *= 2;
  std::string msg = resume(tiny_mim(), labels.get(), data, lr);
  EXPECT_NE(msg.find(first.checkpoint), std::string::npos) << msg;
  EXPECT_NE(msg.find("pretrain.blr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--fresh"), std::string::npos) << msg;
  PretrainOptions fp32 = tiny_pretrain(dir.path());
  fp32.bf16 = true;
  EXPECT_NE(resume(tiny_mim(), labels.get(), data, fp32).find("pretrain.bf16"), std::string::npos);
  MimConfig masked = tiny_mim();
  masked.mask_ratio = 0.5;
  EXPECT_NE(resume(masked, labels.get(), data, tiny_pretrain(dir.path())).find("model.mask_ratio"),
            std::string::npos);
  EXPECT_NE(resume(tiny_mim(), labels.get(), make_color_dataset(32, 8, 2, 1), tiny_pretrain(dir.path()))
                .find("data"),
            std::string::npos);
  const auto random = make_random_tokenizer(spec, 2, 0);
  EXPECT_NE(resume(tiny_mim(), random.get(), data, tiny_pretrain(dir.path())).find("tokenizer"),
            std::string::npos);
}

/// The repro: one checkpoint scored by `eval knn` on dataset A, then on dataset B (the same
/// images with the test labels swapped) must give B's number, not A's again; `pretrain` into a
/// folder made under another tokenizer seed is refused until --fresh.
TEST(CliReuse, EvalOnAnotherDatasetAndPretrainWithAnotherSeed) {
  TempDir dir;
  const std::string a = dir.file("a"), b = dir.file("b");
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);
  testing::write_idx(a, "train", 64, 28);
  testing::write_idx(a, "t10k", 32, 28);
  testing::write_idx(b, "train", 64, 28);
  testing::write_idx(b, "t10k", 32, 28);
  {  // B's test labels swapped: k-NN on B scores near 0 where A scores near 100 %
    std::fstream labels(b + "/t10k-labels-idx1-ubyte", std::ios::in | std::ios::out | std::ios::binary);
    labels.seekp(8);
    for (int i = 0; i < 32; ++i) labels.put(char(1 - i % 2));
  }
  const std::string tiny = " --set model.preset=vit-tiny-28 --set pretrain.batch_size=16 "
                           "--set pretrain.max_steps=1 --set pretrain.epochs=1 "
                           "--set tokenizer.vocab=4 --set tokenizer.max_patches=500 "
                           "--set tokenizer.iterations=2 --set eval.knn_k=3 --set eval.bf16=false";
  const std::string out = dir.file("run");
  testing::RunResult r = testing::run_cli(dir, "pretrain --out " + out + tiny + " --set data.dataset=" + a);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string ckpt = out + "/clustermim/ckpt-000000001.cmck";
  ASSERT_TRUE(std::filesystem::exists(ckpt)) << r.out;
  r = testing::run_cli(dir, "eval knn --checkpoint " + ckpt);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string on_a = r.out;
  r = testing::run_cli(dir, "eval knn --checkpoint " + ckpt + " --set data.dataset=" + b);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out, on_a) << "dataset B scored with dataset A's cached features";
  EXPECT_NE(r.err.find("recomputing features"), std::string::npos) << r.err;

  r = testing::run_cli(dir, "pretrain --out " + out + tiny + " --set data.dataset=" + a +
                                " --set tokenizer.seed=1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tokenizer.seed is 0 there, 1 now"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--fresh"), std::string::npos) << r.err;
  r = testing::run_cli(dir, "pretrain --out " + out + tiny + " --set data.dataset=" + a +
                                " --set tokenizer.seed=1 --fresh");
  EXPECT_EQ(r.status, 0) << r.err;
}

}  // namespace
}  // namespace clustermim
