/*
 * Training over any ImageSource (issue 17): pretraining (MAE pixels and tokens) on an unlabeled
 * streamed folder of JPEGs of varying sizes runs, writes checkpoints and resumes; fine-tuning on a
 * streamed labeled folder runs and scores; and gradient accumulation: one optimizer step over 2
 * micro-batches of B images is the step of one batch of 2B (same weights, loss and gradient norm),
 * resumes exactly at optimizer-step boundaries, and is part of the provenance. The JPEGs are
 * written here with OpenCV.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "data/sample_index.h"
#include "data/stream_image_source.h"
#include "support/fixtures.h"
#include "support/same_weights.h"
#include "tokenizers/baseline_tokenizers.h"
#include "train/finetune.h"
#include "train/pretrain.h"

namespace clustermim {
namespace {

using testing::TempDir;

/// `count` JPEGs of sizes from 60x45 to 90x70 under `folder` (created), colour `base` + noise.
void write_jpegs(const std::string& folder, int count, int base, uint64_t seed) {
  std::filesystem::create_directories(folder);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const int width = 60 + (i * 7) % 31, height = 45 + (i * 5) % 26;
    cv::Mat image(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        for (int c = 0; c < 3; ++c) {
          image.at<cv::Vec3b>(y, x)[c] = static_cast<uint8_t>(base + 20 * c + rng() % 30);
        }
      }
    }
    ASSERT_TRUE(cv::imwrite(folder + "/img" + std::to_string(i) + ".jpg", image));
  }
}

StreamImageSource stream_of(const std::string& root, const std::string& split) {
  IndexOptions index;
  index.cache_dir = "none";
  return StreamImageSource(index_samples(root, split, index));
}

/// 32 px, patch 8 (16 patches), 32-d x 2 blocks.
MimConfig tiny_32(const std::string& target) {
  MimConfig c;
  c.encoder.image_size = 32;
  c.encoder.patch_size = 8;
  c.encoder.dim = 32;
  c.encoder.depth = 2;
  c.encoder.heads = 2;
  c.decoder.dim = 16;
  c.decoder.depth = 1;
  c.decoder.heads = 2;
  c.target = target;
  c.vocab = 8;
  return c;
}

/// 8 px, patch 2, as tests/test_pretrain.cpp's models.
MimConfig tiny_8(const std::string& target) {
  MimConfig c = tiny_32(target);
  c.encoder.image_size = 8;
  c.encoder.patch_size = 2;
  c.vocab = 2;
  return c;
}

PretrainOptions options(const std::string& out_dir, int64_t batch_size, int64_t accum_steps) {
  PretrainOptions o;
  o.epochs = 1;
  o.batch_size = batch_size;
  o.accum_steps = accum_steps;
  o.blr = 1e-2;
  o.warmup_epochs = 0;  // a full lr from the first step, so that step changes the weights
  o.bf16 = false;
  o.workers = 1;
  o.out_dir = out_dir;
  return o;
}

std::vector<double> metric_column(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) {
    values.push_back(nlohmann::json::parse(line).at(key).get<double>());
  }
  return values;
}

TEST(TrainSources, PretrainsOnAnUnlabeledStreamedFolderAndResumes) {
  TempDir data;
  write_jpegs(data.path(), 8, 60, 1);
  const StreamImageSource source = stream_of(data.path(), "train");
  ASSERT_EQ(source.num_classes(), 0);
  const ChannelStats stats = estimate_channel_stats(source, 100, 0, 32);
  for (const std::string target : {"pixels", "tokens"}) {
    TokenizerSpec spec;
    spec.image_size = 32;
    spec.patch_size = 8;
    spec.stats = stats;
    const auto tokenizer = make_random_tokenizer(spec, 8, 3);
    TempDir out;
    PretrainOptions o = options(out.path(), 4, 1);
    o.max_steps = 1;
    torch::manual_seed(0);
    MimModel model(tiny_32(target));
    const PretrainResult first =
        pretrain(model, tokenizer.get(), source, stats, o, torch::kCPU, {});
    ASSERT_TRUE(std::filesystem::exists(first.checkpoint)) << target;
    o.max_steps = 2;
    MimModel resumed(tiny_32(target));
    const PretrainResult r =
        pretrain(resumed, tokenizer.get(), source, stats, o, torch::kCPU, {}, first.checkpoint);
    EXPECT_EQ(r.steps, 2) << target;
    EXPECT_TRUE(std::isfinite(r.last_loss)) << target;
    EXPECT_NE(r.checkpoint, first.checkpoint) << target;
    EXPECT_TRUE(std::filesystem::exists(r.checkpoint)) << target;
    EXPECT_EQ(metric_column(out.file("metrics.jsonl"), "loss").size(), 2u) << target;
  }
  TokenizerSpec spec;
  spec.image_size = 32;
  spec.patch_size = 8;
  const auto labels = make_label_tokenizer(spec, 8);
  MimModel model(tiny_32("tokens"));
  const std::string error = testing::error_of(
      [&] { pretrain(model, labels.get(), source, stats, options("", 4, 1), torch::kCPU, {}); });
  EXPECT_NE(error.find("is unlabeled"), std::string::npos) << error;
}

TEST(TrainSources, FinetunesOnAStreamedLabeledFolder) {
  TempDir data;
  write_jpegs(data.file("train/dark"), 4, 30, 1);
  write_jpegs(data.file("train/bright"), 4, 170, 2);
  write_jpegs(data.file("test/dark"), 2, 30, 3);
  write_jpegs(data.file("test/bright"), 2, 170, 4);
  const StreamImageSource train = stream_of(data.path(), "train");
  const StreamImageSource test = stream_of(data.path(), "test");
  const ChannelStats stats = estimate_channel_stats(train, 100, 0, 32);
  FinetuneOptions o;
  o.epochs = 1;
  o.batch_size = 4;
  o.bf16 = false;
  o.workers = 1;
  o.eval_batch = 3;
  torch::manual_seed(0);
  VitClassifier classifier(make_classifier_config(tiny_32("pixels").encoder, 2, o));
  const FinetuneResult r = finetune(classifier, train, test, stats, o, torch::kCPU, {});
  ASSERT_EQ(r.epochs.size(), 1u);
  EXPECT_EQ(r.steps, 2);
  EXPECT_GE(r.top1_last, 0.0);
  EXPECT_LE(r.top1_last, 1.0);
  EXPECT_DOUBLE_EQ(r.top5_last, 1.0) << "two classes: both are in the top 5";

  TempDir plain;
  write_jpegs(plain.path(), 4, 60, 5);
  const StreamImageSource unlabeled = stream_of(plain.path(), "train");
  const std::string error = testing::error_of(
      [&] { finetune(classifier, unlabeled, test, stats, o, torch::kCPU, {}); });
  EXPECT_NE(error.find("is unlabeled"), std::string::npos) << error;
}

// Crops depend on the epoch position and the masks are drawn for the whole effective batch, so
// 2 micro-batches of 8 see the images, crops and masks of one batch of 16; each micro-batch
// loss divided by 2 makes the summed gradient that batch's. The gradient norm is checked too:
// AdamW's update hardly changes when every gradient is scaled (a wrong divisor), the norm does.
TEST(TrainSources, AccumulatedStepIsTheStepOfTheWholeBatch) {
  const Dataset d = testing::make_color_dataset(32, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  TokenizerSpec spec;
  spec.image_size = 8;
  spec.patch_size = 2;
  const auto tokenizer = make_label_tokenizer(spec, 2);
  for (const std::string target : {"pixels", "tokens"}) {
    TempDir whole, micro;
    torch::manual_seed(1);
    MimModel a(tiny_8(target));
    const PretrainResult ra =
        pretrain(a, tokenizer.get(), d, stats, options(whole.path(), 16, 1), torch::kCPU, {});
    torch::manual_seed(1);
    MimModel b(tiny_8(target));
    const PretrainResult rb =
        pretrain(b, tokenizer.get(), d, stats, options(micro.path(), 8, 2), torch::kCPU, {});
    EXPECT_EQ(ra.steps, 2) << target;
    EXPECT_EQ(rb.steps, 2) << target;
    for (const std::string key : {"loss", "grad_norm", "lr"}) {
      const auto va = metric_column(whole.file("metrics.jsonl"), key);
      const auto vb = metric_column(micro.file("metrics.jsonl"), key);
      ASSERT_EQ(va.size(), 2u);
      ASSERT_EQ(vb.size(), 2u);
      for (size_t i = 0; i < va.size(); ++i) {
        EXPECT_NEAR(va[i], vb[i], 1e-5 * std::abs(va[i])) << target << " " << key << " step " << i;
      }
    }
    testing::expect_same_weights(*a, *b, target, 1e-5, 1e-6);
  }
}

TEST(TrainSources, AccumulationResumesExactlyAndIsInTheProvenance) {
  const Dataset d = testing::make_color_dataset(48, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  TempDir straight, halves;
  torch::manual_seed(1);
  MimModel a(tiny_8("pixels"));
  PretrainOptions o = options(straight.path(), 8, 2);
  o.epochs = 2;  // 3 optimizer steps per epoch
  const PretrainResult ra = pretrain(a, nullptr, d, stats, o, torch::kCPU, {});
  EXPECT_EQ(ra.steps, 6);

  torch::manual_seed(1);
  MimModel b(tiny_8("pixels"));
  o.out_dir = halves.path();
  o.max_steps = 2;  // stops inside epoch 0
  const PretrainResult r1 = pretrain(b, nullptr, d, stats, o, torch::kCPU, {});
  PretrainOptions other = o;
  other.max_steps = 0;
  other.accum_steps = 1;
  MimModel e(tiny_8("pixels"));
  const std::string error = testing::error_of(
      [&] { pretrain(e, nullptr, d, stats, other, torch::kCPU, {}, r1.checkpoint); });
  EXPECT_NE(error.find("pretrain.accum_steps is 2 there, 1 now"), std::string::npos) << error;

  o.max_steps = 0;
  MimModel c(tiny_8("pixels"));
  pretrain(c, nullptr, d, stats, o, torch::kCPU, {}, r1.checkpoint);
  testing::expect_same_weights(*a, *c, "resumed", 1e-5, 1e-6);
  const auto la = metric_column(straight.file("metrics.jsonl"), "loss");
  const auto lb = metric_column(halves.file("metrics.jsonl"), "loss");
  ASSERT_EQ(lb.size(), la.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-5) << "step " << i;

}

}  // namespace
}  // namespace clustermim
