/*
 * The library without the command line: this file is built into its own test program that
 * links cm_torch only (no src/cli/ source), and walks the path a library user takes through the
 * public headers of docs/LIBRARY.md: fit a pixel K-means tokenizer -> TCAS -> a few pretraining
 * steps -> the checkpoint -> load_encoder / load_checkpoint / load_tokenizer -> k-NN.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "eval/encoder_eval.h"
#include "metrics/tcas.h"
#include "models/checkpoint_file.h"
#include "models/vit_weights.h"
#include "support/fixtures.h"
#include "tokenizers/pixel_kmeans.h"
#include "tokenizers/tokenizer_factory.h"
#include "train/metrics_log.h"
#include "train/pretrain.h"

namespace clustermim {
namespace {

using testing::TempDir;

/// `n` images 16x16 of 2 classes: a grey noise background with one 8x8 square at a random
/// quarter, red for class 0 and blue for class 1. Background patches look alike in both classes
/// (so a pixel tokenizer's TCAS is above 0), the square tells the classes apart (k-NN).
Dataset make_square_dataset(int64_t n, const std::string& split, uint64_t seed) {
  Dataset d;
  d.name = "squares";
  d.split = split;
  d.source = "squares";
  d.height = d.width = 16;
  d.channels = 3;
  d.classes = {"red", "blue"};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(-20, 20), quarter(0, 3);
  d.pixels.resize(n * 16 * 16 * 3);
  for (int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    d.labels.push_back(label);
    const int top = 8 * (quarter(rng) / 2), left = 8 * (quarter(rng) % 2);
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) {
        const bool square = y >= top && y < top + 8 && x >= left && x < left + 8;
        for (int c = 0; c < 3; ++c) {
          const int base = !square ? 128 : (c == (label == 0 ? 0 : 2) ? 230 : 30);
          d.pixels[((i * 16 + y) * 16 + x) * 3 + c] =
              static_cast<uint8_t>(std::clamp(base + noise(rng), 0, 255));
        }
      }
    }
  }
  return d;
}

MimConfig tiny_model(int64_t vocab) {
  MimConfig mc;
  mc.encoder.image_size = 16;
  mc.encoder.patch_size = 4;
  mc.encoder.dim = 32;
  mc.encoder.depth = 2;
  mc.encoder.heads = 2;
  mc.decoder.dim = 16;
  mc.decoder.depth = 1;
  mc.decoder.heads = 2;
  mc.vocab = vocab;
  return mc;
}

TEST(Library, FitTcasPretrainCheckpointKnn) {
  TempDir dir;
  const torch::Device cpu(torch::kCPU);
  const Dataset train = make_square_dataset(64, "train", 1), test = make_square_dataset(32, "test", 2);
  const ChannelStats stats = compute_channel_stats(train);

  PixelKMeansOptions fit;
  fit.vocab = 8;
  fit.patch_size = 4;
  fit.iterations = 10;
  fit.workers = 1;
  const auto tokenizer = fit_pixel_kmeans(train, stats, fit, cpu);
  const TcasReport tcas = compute_tcas(count_token_classes(*tokenizer, test, 1, cpu));
  EXPECT_GT(tcas.tcas, 0.0);
  EXPECT_LT(tcas.tcas, 1.0) << "the squares' tokens are purer than chance";

  torch::manual_seed(0);
  MimModel model(tiny_model(fit.vocab));
  PretrainOptions options;
  options.epochs = 1;
  options.batch_size = 16;
  options.max_steps = 3;
  options.blr = 1e-2;
  options.warmup_epochs = 0;
  options.bf16 = false;
  options.workers = 1;
  options.out_dir = dir.file("clustermim");
  const PretrainResult result = pretrain(model, tokenizer.get(), train, stats, options, cpu, {});
  EXPECT_EQ(result.steps, 3);
  const std::vector<StepRecord> steps = read_metrics(options.out_dir + "/metrics.jsonl");
  ASSERT_EQ(steps.size(), 3u);
  for (const StepRecord& s : steps) EXPECT_TRUE(std::isfinite(s.loss)) << "step " << s.step;
  EXPECT_NE(steps.front().loss, steps.back().loss);

  const Checkpoint checkpoint = load_checkpoint(result.checkpoint);
  EXPECT_EQ(checkpoint.info.position.step, 3);
  EXPECT_EQ(checkpoint.optimizer_steps.value_or(-1), 3);
  EXPECT_EQ(checkpoint_model_spec(checkpoint).mim.vocab, fit.vocab);
  EXPECT_EQ(checkpoint_model_spec(checkpoint).stats.mean, stats.mean);

  FrozenEncoder encoder = load_encoder(result.checkpoint);
  EXPECT_EQ(encoder.stats.std, stats.std);
  const torch::Tensor images = torch::randn({4, 3, 16, 16});
  {
    torch::NoGradGuard no_grad;
    model->encoder()->eval();
    EXPECT_TRUE(torch::equal(model->encoder()->forward_features(images),
                             encoder.encoder->forward_features(images)));
    EXPECT_TRUE(torch::equal(load_model(checkpoint)->encoder()->forward_features(images),
                             encoder.encoder->forward_features(images)));
  }
  const auto embedded = load_tokenizer(result.checkpoint);
  const TokenizerInput input{images, torch::zeros({4}, torch::kLong), torch::arange(4)};
  EXPECT_TRUE(torch::equal(embedded->tokenize(input), tokenizer->tokenize(input)));

  EncoderEvalOptions eval;
  eval.linear = false;
  eval.knn_options.k = 5;
  eval.features.workers = 1;
  eval.features.bf16 = false;
  const EncoderScores scores = evaluate_encoder(encoder.encoder, train, test, encoder.stats, eval, cpu);
  EXPECT_GT(scores.knn_top1, 0.75) << "the classes differ in colour; chance is 0.5";
}

TEST(Library, LoadTokenizerOfACheckpointWithoutOne) {
  TempDir dir;
  MimConfig mc = tiny_model(8);
  mc.target = "pixels";
  MimModel model(mc);
  CheckpointInfo info;
  info.model = CheckpointModelSpec{mc, {}};
  write_checkpoint(dir.file("mae.cmck"), *model, nullptr, nullptr, info);
  EXPECT_NE(testing::error_of([&] { load_tokenizer(dir.file("mae.cmck")); }).find("holds no tokenizer"),
            std::string::npos);
  EXPECT_FALSE(load_checkpoint(dir.file("mae.cmck")).optimizer_steps.has_value());
  EXPECT_EQ(load_encoder(dir.file("mae.cmck")).encoder->config().dim, 32);
}

}  // namespace
}  // namespace clustermim
