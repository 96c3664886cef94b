/*
 * Fine-tuning (issue 18): the layer-decay groups are MAE's lr_decay.py, AdamW applies each
 * parameter's lr scale, a short fine-tune of a tiny ViT on a separable synthetic set beats its
 * initialization, a run stopped half-way and resumed reproduces the uninterrupted one exactly
 * (and refuses other starting weights), gradient accumulation equals
 * one step of the whole batch, finetune.train_images trains on a sample of the split,
 * and `eval finetune` writes its JSON and rejects two model sources with one error line.
 */
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "models/vit_weights.h"
#include "support/cli_runner.h"
#include "support/fixtures.h"
#include "support/same_weights.h"
#include "train/classifier.h"
#include "train/finetune.h"
#include "train/layer_decay.h"

namespace clustermim {
namespace {

using testing::TempDir;

/// 8 px, patch 2, 32-d x 3 blocks, 4 classes; drop path 0.1 (FinetuneOptions' default).
ClassifierConfig tiny_classifier(const std::string& pooling = "avg") {
  VitConfig encoder;
  encoder.image_size = 8;
  encoder.patch_size = 2;
  encoder.dim = 32;
  encoder.depth = 3;
  encoder.heads = 2;
  FinetuneOptions o;
  o.pooling = pooling;
  return make_classifier_config(encoder, 4, o);
}

FinetuneOptions tiny_options(const std::string& out_dir) {
  FinetuneOptions o;
  o.epochs = 2;
  o.batch_size = 16;
  o.blr = 2e-2;
  o.warmup_epochs = 0.5;
  o.bf16 = false;
  o.workers = 1;
  o.eval_batch = 32;
  o.out_dir = out_dir;
  return o;
}

TEST(LayerDecay, GroupsAreMaes) {
  for (const std::string pooling : {"avg", "cls"}) {
    VitClassifier model(tiny_classifier(pooling));
    const double decay = 0.5;
    const std::vector<AdamWParam> groups = param_groups_lrd(*model, 3, decay);
    std::map<std::string, const AdamWParam*> by_name;
    for (const AdamWParam& p : groups) by_name[p.name] = &p;
    // Every trainable parameter, nothing else; pos_embed is trained when fine-tuning.
    size_t trainable = 0;
    for (const auto& item : model->named_parameters()) trainable += item.value().requires_grad();
    EXPECT_EQ(groups.size(), trainable);
    ASSERT_TRUE(by_name.count("encoder.pos_embed"));
    EXPECT_EQ(by_name.count("encoder.norm.weight"), pooling == "cls" ? 1u : 0u)
        << "avg pooling skips the final norm (fc_norm instead)";
    EXPECT_EQ(by_name.count("fc_norm.weight"), pooling == "avg" ? 1u : 0u);
    for (const AdamWParam& p : groups) {
      const std::string& n = p.name;
      double expected = 1.0;  // head, fc_norm / final norm: layer depth + 1
      if (n == "encoder.cls_token" || n == "encoder.pos_embed" ||
          n.rfind("encoder.patch_embed.", 0) == 0) {
        expected = std::pow(decay, 4);  // embeddings: decay^(depth + 1)
      }
      for (int i = 1; i <= 3; ++i) {  // block i (1-based): decay^(depth + 1 - i)
        if (n.rfind("encoder.blocks." + std::to_string(i - 1) + ".", 0) == 0) {
          expected = std::pow(decay, 4 - i);
        }
      }
      EXPECT_DOUBLE_EQ(p.lr_scale, expected) << n;
      const bool no_decay = p.value.dim() == 1 || n == "encoder.pos_embed" || n == "encoder.cls_token";
      EXPECT_EQ(p.decay, !no_decay) << n;
    }
    EXPECT_TRUE(by_name.at("head.weight")->decay);
    EXPECT_FALSE(by_name.at("head.bias")->decay);
    EXPECT_TRUE(by_name.at("encoder.patch_embed.proj.weight")->decay);
    EXPECT_FALSE(by_name.at("encoder.blocks.2.norm1.weight")->decay);
  }
  EXPECT_EQ(vit_layer_id("blocks.11.mlp.fc1.weight", 12), 12);
  EXPECT_EQ(vit_layer_id("norm.weight", 12), 13);
}

// The first AdamW step moves every element by lr * scale * (decay term + sign(grad)); fp32 takes
// the one-pass update, fp64 the multi-tensor one.
TEST(LayerDecay, AdamWAppliesEachScale) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const torch::Tensor a = torch::full({3, 2}, 2.0, dtype).requires_grad_(true);
    const torch::Tensor b = torch::full({3, 2}, 2.0, dtype).requires_grad_(true);
    std::vector<AdamWParam> params(2);
    params[0].name = "a";
    params[0].value = a;
    params[0].lr_scale = 1.0;
    params[1].name = "b";
    params[1].value = b;
    params[1].lr_scale = 0.25;
    AdamW opt(params, AdamWOptions{0.9, 0.999, 1e-8, 0.1});
    (a.sum() + b.sum()).backward();
    opt.step(0.1);
    EXPECT_NEAR(a[0][0].item<double>(), 2.0 * (1 - 0.1 * 0.1) - 0.1, 1e-6);
    EXPECT_NEAR(b[0][0].item<double>(), 2.0 * (1 - 0.025 * 0.1) - 0.025, 1e-6);
  }
}

TEST(Finetune, BeatsItsInitialization) {
  TempDir dir;
  const Dataset train = testing::make_color_dataset(128, 8, 4, 1);
  const Dataset test = testing::make_color_dataset(64, 8, 4, 2);
  const ChannelStats stats = compute_channel_stats(train);
  torch::manual_seed(0);
  VitClassifier model(tiny_classifier());
  const auto [init1, init5] = classifier_accuracy(model, test, stats, 64, 1, false, torch::kCPU);
  FinetuneOptions o = tiny_options(dir.path());
  o.epochs = 6;
  const FinetuneResult r = finetune(model, train, test, stats, o, torch::kCPU, {});
  ASSERT_EQ(r.epochs.size(), 6u);
  EXPECT_GT(r.top1_last, init1 + 0.3) << "initial top-1 " << init1;
  EXPECT_GE(r.top1_best, r.top1_last);
  EXPECT_DOUBLE_EQ(r.top5_last, 1.0) << "4 classes: top-5 covers all";
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  const auto [after1, after5] = classifier_accuracy(model, test, stats, 64, 1, false, torch::kCPU);
  EXPECT_DOUBLE_EQ(after1, r.top1_last) << "the reported score is the model's";
  const auto saved = nlohmann::json::parse(testing::slurp(dir.file("finetune.json")));
  EXPECT_EQ(saved.at("epochs").size(), 6u);
  EXPECT_DOUBLE_EQ(saved.at("top1_last").get<double>(), r.top1_last);
}

TEST(Finetune, ResumeReproducesUninterruptedRun) {
  const Dataset train = testing::make_color_dataset(48, 8, 4, 1);
  const Dataset test = testing::make_color_dataset(16, 8, 4, 2);
  const ChannelStats stats = compute_channel_stats(train);
  auto fresh_model = [] {
    torch::manual_seed(3);
    return VitClassifier(tiny_classifier());
  };
  TempDir straight, halves;
  VitClassifier a = fresh_model();
  const FinetuneResult ra = finetune(a, train, test, stats, tiny_options(straight.path()),
                                     torch::kCPU, {});
  VitClassifier b = fresh_model();
  FinetuneOptions first = tiny_options(halves.path());
  first.max_steps = 4;  // mid-way through the second epoch (3 batches per epoch)
  const FinetuneResult r1 = finetune(b, train, test, stats, first, torch::kCPU, {});
  ASSERT_EQ(r1.epochs.size(), 1u);
  VitClassifier c = fresh_model();
  const FinetuneResult rc = finetune(c, train, test, stats, tiny_options(halves.path()),
                                     torch::kCPU, {}, r1.checkpoint);
  EXPECT_EQ(rc.steps, ra.steps);
  const auto written = std::filesystem::last_write_time(rc.checkpoint);
  VitClassifier d = fresh_model();
  const FinetuneResult rd = finetune(d, train, test, stats, tiny_options(halves.path()),
                                     torch::kCPU, {}, rc.checkpoint);
  EXPECT_EQ(rd.checkpoint, rc.checkpoint);
  EXPECT_DOUBLE_EQ(rd.top1_last, rc.top1_last);
  EXPECT_TRUE(std::filesystem::last_write_time(rc.checkpoint) == written)
      << "a finished run invoked again must not rewrite its checkpoint";
  EXPECT_EQ(to_json(rc).at("epochs"), to_json(ra).at("epochs"));
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), c->named_parameters()[p.key()])) << p.key();
  }

  torch::manual_seed(4);
  VitClassifier other(tiny_classifier());
  const std::string why = testing::error_of([&] {
    finetune(other, train, test, stats, tiny_options(halves.path()), torch::kCPU, {},
             r1.checkpoint);
  });
  EXPECT_NE(why.find("init"), std::string::npos) << why;
}

TEST(Finetune, AccumulatedStepsEqualOneStepOfTheWholeBatch) {
  const Dataset train = testing::make_color_dataset(32, 8, 4, 1);
  const Dataset test = testing::make_color_dataset(16, 8, 4, 2);
  const ChannelStats stats = compute_channel_stats(train);
  ClassifierConfig config = tiny_classifier();
  config.encoder.drop_path = 0;  // no per-micro-batch draws: the two runs see the same network
  auto run = [&](int64_t batch_size, int64_t accum_steps, VitClassifier& model) {
    TempDir dir;
    FinetuneOptions o = tiny_options(dir.path());
    o.epochs = 1;
    o.warmup_epochs = 0;
    o.batch_size = batch_size;
    o.accum_steps = accum_steps;
    o.mixup.prob = 0;  // nor per-micro-batch mixing
    torch::manual_seed(5);
    model = VitClassifier(config);
    return finetune(model, train, test, stats, o, torch::kCPU, {});
  };
  VitClassifier whole(nullptr), accumulated(nullptr);
  const FinetuneResult a = run(16, 1, whole);
  const FinetuneResult b = run(8, 2, accumulated);
  EXPECT_EQ(a.steps, 2);
  EXPECT_EQ(b.steps, 2);
  EXPECT_NEAR(a.epochs.at(0).train_loss, b.epochs.at(0).train_loss, 1e-5);
  testing::expect_same_weights(*whole, *accumulated, "accumulated", 1e-4, 1e-5);
}

TEST(Finetune, TrainImagesSamplesTheTrainingSplit) {
  const Dataset train = testing::make_color_dataset(48, 8, 4, 1);
  const Dataset test = testing::make_color_dataset(16, 8, 4, 2);
  const ChannelStats stats = compute_channel_stats(train);
  TempDir dir;
  FinetuneOptions o = tiny_options(dir.path());
  o.train_images = 16;  // one batch of 16 per epoch instead of three
  torch::manual_seed(3);
  VitClassifier model(tiny_classifier());
  const FinetuneResult r = finetune(model, train, test, stats, o, torch::kCPU, {});
  EXPECT_EQ(r.steps, 2);

  FinetuneOptions other = tiny_options(dir.path());
  other.train_images = 32;
  torch::manual_seed(3);
  VitClassifier again(tiny_classifier());
  const std::string why = testing::error_of([&] {
    finetune(again, train, test, stats, other, torch::kCPU, {}, r.checkpoint);
  });
  EXPECT_NE(why.find("train_images"), std::string::npos) << why;
  other.train_images = -1;
  EXPECT_NE(testing::error_of([&] { validate(other); }).find("finetune.train_images"),
            std::string::npos);
}

TEST(FinetuneCli, WritesScoresAndRejectsTwoSources) {
  TempDir dir;
  const std::string data = testing::write_idx_dataset(dir, 32, 16);
  torch::manual_seed(0);
  VitConfig encoder = tiny_classifier().encoder;
  VisionTransformer vit(encoder);
  save_encoder_safetensors(vit, ChannelStats{}, dir.file("enc.safetensors"));
  const std::string sets = " --set data.dataset=" + data +
                           " --set finetune.epochs=2 --set finetune.batch_size=16"
                           " --set finetune.bf16=false --set finetune.warmup_epochs=1";
  testing::RunResult r = testing::run_cli(
      dir, "eval finetune --weights " + dir.file("enc.safetensors") + " --out " +
               dir.file("ft") + " --json " + dir.file("ft.json") + sets);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("top-1 last"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(testing::slurp(dir.file("ft.json")));
  for (const char* key : {"top1_best", "top5_best", "top1_last", "top5_last", "wall_s"}) {
    EXPECT_TRUE(j.at(key).is_number()) << key;
  }
  EXPECT_EQ(j.at("epochs").size(), 2u);
  EXPECT_EQ(j.at("steps"), 4);
  EXPECT_TRUE(std::filesystem::exists(dir.file("ft/ckpt-000000004.cmck")));

  r = testing::run_cli(dir, "eval finetune --weights " + dir.file("enc.safetensors") +
                                " --random-init vit-tiny-28 --json " + dir.file("two.json") + sets);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("error: eval finetune: give exactly one of", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("two.json")));
}

}  // namespace
}  // namespace clustermim
