/*
 * Pretraining: AdamW matches PyTorch's AdamW update, training reduces the loss, a run stopped
 * half-way and resumed from its checkpoint reproduces the uninterrupted run (and, invoked again
 * when finished, leaves its checkpoint untouched), and checkpoints
 * prune, embed their tokenizer and fall back past a damaged file.
 */
#include <gtest/gtest.h>

#include <numeric>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"
#include "tokenizers/baseline_tokenizers.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"

namespace clustermim {
namespace {

using testing::TempDir;

MimConfig tiny_config(const std::string& target) {
  MimConfig c;
  c.encoder.image_size = 8;
  c.encoder.patch_size = 2;
  c.encoder.dim = 32;
  c.encoder.depth = 2;
  c.encoder.heads = 2;
  c.decoder.dim = 16;
  c.decoder.depth = 1;
  c.decoder.heads = 2;
  c.target = target;
  c.vocab = 2;
  return c;
}

PretrainOptions tiny_options(const std::string& out_dir) {
  PretrainOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.blr = 1e-2;
  o.warmup_epochs = 0.5;
  o.bf16 = false;
  o.workers = 1;
  o.out_dir = out_dir;
  return o;
}

std::vector<double> metric_column(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::vector<double> values;
  std::string line;
  while (std::getline(in, line)) values.push_back(nlohmann::json::parse(line).at(key).get<double>());
  return values;
}

std::unique_ptr<Tokenizer> tiny_label_tokenizer(const Dataset& d) {
  TokenizerSpec spec;
  spec.image_size = 8;
  spec.patch_size = 2;
  return make_label_tokenizer(spec, d.num_classes());
}

// fp32 CPU parameters take the one-pass update, others (here fp64) the multi-tensor operations.
class AdamWPaths : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(AdamWPaths, MatchesTorchAdamW) {
  torch::manual_seed(0);
  torch::nn::Linear ours(4, 3), theirs(4, 3);
  ours->to(GetParam());
  theirs->to(GetParam());
  {
    torch::NoGradGuard g;
    theirs->weight.copy_(ours->weight);
    theirs->bias.copy_(ours->bias);
  }
  AdamW opt(*ours, AdamWOptions{0.9, 0.95, 1e-8, 0.05});
  // torch's AdamW decays every parameter of a group: give the bias its own group without decay.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{theirs->weight},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.05)));
  groups.emplace_back(std::vector<torch::Tensor>{theirs->bias},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.0)));
  torch::optim::AdamW reference(groups, torch::optim::AdamWOptions(0.01));
  const torch::Tensor x = torch::randn({8, 4}).to(GetParam());
  for (int i = 0; i < 5; ++i) {
    opt.zero_grad();
    ours(x).pow(2).sum().backward();
    opt.step(0.01);
    reference.zero_grad();
    theirs(x).pow(2).sum().backward();
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(ours->weight, theirs->weight, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(ours->bias, theirs->bias, 1e-5, 1e-6));
  EXPECT_FALSE(opt.params()[1].decay) << opt.params()[1].name;
  opt.zero_grad();
  EXPECT_FALSE(ours->weight.grad().defined()) << "zero_grad leaves gradients undefined";
}

INSTANTIATE_TEST_SUITE_P(OnePassAndForeach, AdamWPaths,
                         ::testing::Values(torch::kFloat32, torch::kFloat64));

TEST(Pretrain, TokenLossDecreases) {
  TempDir dir;
  const Dataset d = testing::make_color_dataset(64, 8, 2);
  auto tok = tiny_label_tokenizer(d);
  MimModel model(tiny_config("tokens"));
  PretrainOptions o = tiny_options(dir.path());
  o.epochs = 8;
  const PretrainResult r = pretrain(model, tok.get(), d, compute_channel_stats(d), o, torch::kCPU, {});
  const std::vector<double> loss = metric_column(dir.file("metrics.jsonl"), "loss");
  ASSERT_EQ(loss.size(), 32u);
  EXPECT_LT(r.last_loss, loss.front() * 0.5) << "first " << loss.front() << " last " << r.last_loss;
  EXPECT_EQ(r.steps, 32);
}

TEST(Pretrain, ResumeReproducesUninterruptedRun) {
  const Dataset d = testing::make_color_dataset(64, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  for (const std::string target : {"tokens", "pixels"}) {
    auto tok = tiny_label_tokenizer(d);
    TempDir straight, halves;
    torch::manual_seed(1);
    MimModel a(tiny_config(target));
    pretrain(a, tok.get(), d, stats, tiny_options(straight.path()), torch::kCPU, {});

    torch::manual_seed(1);
    MimModel b(tiny_config(target));
    PretrainOptions first = tiny_options(halves.path());
    first.max_steps = 4;
    const PretrainResult r1 = pretrain(b, tok.get(), d, stats, first, torch::kCPU, {});
    torch::manual_seed(99);
    MimModel c(tiny_config(target));
    const PretrainResult r2 =
        pretrain(c, tok.get(), d, stats, tiny_options(halves.path()), torch::kCPU, {}, r1.checkpoint);
    const auto step_s = metric_column(halves.file("metrics.jsonl"), "step_s");
    EXPECT_NEAR(r2.train_seconds, std::accumulate(step_s.begin(), step_s.end(), 0.0), 1e-9)
        << "training time must add up over the resumed invocations";

    const auto la = metric_column(straight.file("metrics.jsonl"), "loss");
    const auto lb = metric_column(halves.file("metrics.jsonl"), "loss");
    ASSERT_EQ(la.size(), 8u) << target;
    ASSERT_EQ(lb.size(), 8u) << target;
    for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-5) << target << " step " << i;
    for (const auto& p : a->named_parameters()) {
      EXPECT_TRUE(torch::allclose(p.value(), c->named_parameters()[p.key()], 1e-5, 1e-6))
          << target << " " << p.key();
    }
  }
}

TEST(Pretrain, ResumedRunReportsWholeRunFigures) {
  const Dataset d = testing::make_color_dataset(64, 8, 2);
  const ChannelStats stats = compute_channel_stats(d);
  auto tok = tiny_label_tokenizer(d);
  TempDir straight, pieces;
  torch::manual_seed(1);
  MimModel a(tiny_config("tokens"));
  const PretrainResult whole = pretrain(a, tok.get(), d, stats, tiny_options(straight.path()), torch::kCPU, {});

  torch::manual_seed(1);
  MimModel b(tiny_config("tokens"));
  PretrainOptions first = tiny_options(pieces.path());
  first.max_steps = 6;  // stops mid-epoch: epoch 2 is split across invocations
  const PretrainResult r1 = pretrain(b, tok.get(), d, stats, first, torch::kCPU, {});
  const PretrainResult r2 =
      pretrain(b, tok.get(), d, stats, tiny_options(pieces.path()), torch::kCPU, {}, r1.checkpoint);
  const auto written = std::filesystem::last_write_time(r2.checkpoint);
  const PretrainResult again =
      pretrain(b, tok.get(), d, stats, tiny_options(pieces.path()), torch::kCPU, {}, r2.checkpoint);
  EXPECT_EQ(again.checkpoint, r2.checkpoint);
  EXPECT_TRUE(std::filesystem::last_write_time(r2.checkpoint) == written)
      << "a finished run invoked again must not rewrite its checkpoint (a round's teacher)";

  const auto loss = metric_column(pieces.file("metrics.jsonl"), "loss");
  ASSERT_EQ(loss.size(), 8u);
  const double epoch2 = std::accumulate(loss.begin() + 4, loss.end(), 0.0) / 4;
  for (const PretrainResult* r : {&r2, &again}) {
    EXPECT_NEAR(r->last_loss, epoch2, 1e-9) << "the last epoch's mean spans both invocations";
    EXPECT_NEAR(r->last_loss, whole.last_loss, 1e-5);
    EXPECT_NEAR(r->last_accuracy, whole.last_accuracy, 1e-5);
    EXPECT_EQ(r->steps, 8);
  }
  EXPECT_NEAR(again.train_seconds, r2.train_seconds, 1e-9);
  EXPECT_NEAR(again.images_per_second, r2.images_per_second, 1e-6 * r2.images_per_second)
      << "a finished run invoked again reports the run's speed, not this invocation's";
  EXPECT_NEAR(r2.images_per_second, 8 * 16 / r2.train_seconds, 1e-6 * r2.images_per_second);
  EXPECT_GT(again.tokenizer_images_per_second, 0);
}

TEST(Checkpoint, KeepsNewestAndSkipsDamaged) {
  TempDir dir;
  const Dataset d = testing::make_color_dataset(16, 8, 2);
  auto tok = tiny_label_tokenizer(d);
  MimModel model(tiny_config("tokens"));
  AdamW opt(*model, {});
  CheckpointInfo info;
  std::vector<std::string> paths;
  for (int64_t step : {1, 2, 3}) {
    info.position.step = step;
    paths.push_back(save_checkpoint(dir.path(), *model, &opt, tok.get(), info, 2));
  }
  EXPECT_FALSE(std::ifstream(paths[0]).good()) << "oldest should be pruned";
  const std::string stale = paths[2] + ".tmp.12345";  // as left by a writer killed mid-write
  std::ofstream(stale) << "half a checkpoint";
  info.position.step = 3;
  save_checkpoint(dir.path(), *model, &opt, tok.get(), info, 2);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_EQ(latest_checkpoint(dir.path()), paths[2]);
  std::filesystem::resize_file(paths[2], std::filesystem::file_size(paths[2]) / 2);
  EXPECT_EQ(latest_checkpoint(dir.path()), paths[1]);

  const Checkpoint c = load_checkpoint(paths[1]);
  EXPECT_EQ(c.info.position.step, 2);
  auto embedded = checkpoint_tokenizer(c);
  ASSERT_NE(embedded, nullptr);
  EXPECT_EQ(embedded->spec().kind, "label");
  MimModel other(tiny_config("tokens"));
  restore_model(c, *other);
  for (const auto& p : model->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), other->named_parameters()[p.key()])) << p.key();
  }
  MimModel wrong(tiny_config("pixels"));
  EXPECT_THROW(restore_model(c, *wrong), Error);
}

}  // namespace
}  // namespace clustermim
