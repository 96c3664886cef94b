/*
 * ViTs of any shape and stochastic depth (issue 17, item 4). Shapes: every model.* key reaches the
 * built model's parameter shapes and beats the preset, each impossible shape is one line naming
 * its key, a reshaped preset is named by its shape in logs and reports, timm's ViT-B/16
 * parameter count. Drop path: the identity in eval mode and at rate 0,
 * per-sample Bernoulli keep with 1/keep scaling in training, timm's linear rate schedule.
 */
#include <gtest/gtest.h>

#include "cli/run_config.h"
#include "core/error.h"
#include "models/mim.h"
#include "support/fixtures.h"

namespace clustermim {
namespace {

VitConfig small_vit(double drop) {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 3;
  c.heads = 2;
  c.drop_path = drop;
  return c;
}

std::vector<int64_t> shape_of(MimModel& model, const std::string& name) {
  return model->named_parameters()[name].sizes().vec();
}

TEST(VitShapes, EveryModelKeyReachesTheParameterShapesAndBeatsThePreset) {
  const nlohmann::json c = load_run_config(
      "", {"model.preset=vit-tiny-32", "model.image_size=24", "model.patch_size=6",
           "model.depth=2", "model.width=48", "model.heads=2", "model.mlp_ratio=2",
           "model.decoder_depth=1", "model.decoder_width=40", "model.decoder_heads=5"});
  const MimConfig m = model_config(c, "clustermim");
  EXPECT_EQ(tokenizer_build_options(c).fit.patch_size, 6);
  EXPECT_EQ(tokenizer_build_options(c).fit.image_size, 24);
  MimModel model(m);
  using Shape = std::vector<int64_t>;
  EXPECT_EQ(shape_of(model, "encoder.pos_embed"), (Shape{1, 1 + 16, 48}));
  EXPECT_EQ(shape_of(model, "encoder.patch_embed.proj.weight"), (Shape{48, 3, 6, 6}));
  EXPECT_EQ(shape_of(model, "encoder.blocks.1.mlp.fc1.weight"), (Shape{96, 48}));
  EXPECT_EQ(model->named_parameters().find("encoder.blocks.2.norm1.weight"), nullptr);
  EXPECT_EQ(m.encoder.heads, 2);
  EXPECT_EQ(shape_of(model, "decoder_embed.weight"), (Shape{40, 48}));
  EXPECT_EQ(shape_of(model, "decoder_pos_embed"), (Shape{1, 17, 40}));
  EXPECT_EQ(model->named_parameters().find("decoder_blocks.1.norm1.weight"), nullptr);
  EXPECT_EQ(m.decoder.heads, 5);
  // Unset keys (0) keep the preset's values.
  const MimConfig preset = model_config(load_run_config("", {"model.preset=vit-tiny-32",
                                                             "model.depth=3"}), "clustermim");
  EXPECT_EQ(preset.encoder.depth, 3);
  EXPECT_EQ(preset.decoder.dim, 128);
  EXPECT_EQ(preset.encoder.dim, 192);
  EXPECT_EQ(preset.encoder.image_size, 32);
}

TEST(VitShapes, AReshapedPresetIsNamedByItsShape) {
  EXPECT_EQ(model_name(load_run_config("", {"model.preset=vit-tiny-32"})), "vit-tiny-32");
  EXPECT_EQ(model_name(load_run_config("", {"model.preset=vit-tiny-32", "model.depth=12"})),
            "vit-tiny-32")
      << "a key set to the preset's own value changes nothing";
  EXPECT_EQ(model_name(load_run_config("", {"model.preset=vit-tiny-32", "model.depth=3",
                                            "model.decoder_heads=2"})),
            "vit-tiny-32 reshaped: 32 px, patch 4, 192-d x 3, 3 heads, mlp 4; decoder 128-d x 4, "
            "2 heads");
}

TEST(VitShapes, AShapeThatCannotWorkIsOneLineNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"model.patch_size=5", "model.patch_size"},   {"model.heads=5", "model.heads"},
      {"model.width=66", "model.width"},            {"model.width=-8", "model.width"},
      {"model.depth=-1", "model.depth"},            {"model.decoder_heads=7", "model.decoder_heads"},
      {"model.decoder_width=98", "model.decoder_width"}, {"model.preset=vit-huge", "model.preset"},
      {"model.mlp_ratio=-1", "model.mlp_ratio"}};
  for (const auto& [set, key] : bad) {
    const std::string message =
        testing::error_of([&] { model_config(load_run_config("", {set}), "clustermim"); });
    EXPECT_NE(message.find(key), std::string::npos) << set << ": " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << set << ": " << message;
  }
}

TEST(VitShapes, PresetsOfTimmsViTsHaveTheirShapesAndParameterCount) {
  EXPECT_EQ(mim_preset("vit-s16-224").encoder.dim, 384);
  EXPECT_EQ(mim_preset("vit-s16-224").encoder.heads, 6);
  EXPECT_EQ(mim_preset("vit-l16-224").encoder.depth, 24);
  EXPECT_EQ(mim_preset("vit-l16-224").encoder.heads, 16);
  const MimConfig b = mim_preset("vit-b16-224");
  EXPECT_EQ(b.decoder.dim, 512);
  EXPECT_EQ(b.decoder.depth, 8);
  EXPECT_EQ(b.decoder.heads, 16);
  VisionTransformer vit(b.encoder);
  int64_t count = 0;
  for (const auto& p : vit->parameters()) count += p.numel();
  // timm vit_base_patch16_224 with num_classes=0: 85,798,656 (pos_embed included).
  EXPECT_EQ(count, 85798656);
}

TEST(DropPath, IsTheIdentityInEvalModeAndAtRateZero) {
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({64, 5, 8});
  EXPECT_TRUE(torch::equal(drop_path(x, 0.5, /*training=*/false), x));
  EXPECT_TRUE(torch::equal(drop_path(x, 0.0, /*training=*/true), x));
  // A whole encoder: eval mode gives exactly the output of the same weights without drop path.
  torch::manual_seed(1);
  VisionTransformer with(small_vit(0.5));
  VisionTransformer without(small_vit(0.0));
  {
    torch::NoGradGuard no_grad;
    auto src = with->named_parameters();
    for (auto& p : without->named_parameters()) p.value().copy_(src[p.key()]);
  }
  with->eval();
  without->eval();
  const torch::Tensor images = torch::randn({2, 3, 8, 8});
  EXPECT_TRUE(torch::equal(with->forward_features(images), without->forward_features(images)));
  // Rate 0 in training mode too.
  without->train();
  EXPECT_TRUE(torch::equal(without->forward_features(images), with->forward_features(images)));
}

TEST(DropPath, KeepsEachSampleWithProbabilityOneMinusRateScaledByOneOverKeep) {
  torch::manual_seed(42);
  const double rate = 0.3, keep = 1.0 - rate;
  const int64_t n = 20000;
  const torch::Tensor x = torch::rand({n, 4, 3}) + 0.5;  // no zeros of its own
  const torch::Tensor y = drop_path(x, rate, /*training=*/true);
  const torch::Tensor ratio = y / x;  // per sample: all 0 or all 1/keep
  const torch::Tensor per_sample = ratio.reshape({n, -1});
  const torch::Tensor kept = per_sample.select(1, 0) > 0;
  // Every element of a sample shares its draw.
  EXPECT_TRUE(torch::allclose(per_sample, per_sample.select(1, 0).unsqueeze(1).expand_as(per_sample)));
  const torch::Tensor kept_ratio = per_sample.index({kept});
  EXPECT_TRUE(torch::allclose(kept_ratio, torch::full_like(kept_ratio, 1.0 / keep), 1e-6, 1e-6));
  const double fraction = kept.to(torch::kDouble).mean().item<double>();
  // Binomial sd: sqrt(0.3 * 0.7 / 20000) ~ 0.0032; 5 sd.
  EXPECT_NEAR(fraction, keep, 0.016);
  EXPECT_GT(fraction, 0.5);
}

TEST(DropPath, RatesRiseLinearlyOverTheBlocksAsTimms) {
  const std::vector<double> rates = drop_path_rates(0.4, 5);
  ASSERT_EQ(rates.size(), 5u);
  for (size_t i = 0; i < rates.size(); ++i) EXPECT_NEAR(rates[i], 0.1 * double(i), 1e-12);
  EXPECT_EQ(drop_path_rates(0.4, 1), std::vector<double>{0.0});
  VisionTransformer vit(small_vit(0.2));
  const auto modules = vit->named_modules();
  EXPECT_DOUBLE_EQ(modules["blocks.0"]->as<Block>()->drop_path_rate(), 0.0);
  EXPECT_DOUBLE_EQ(modules["blocks.1"]->as<Block>()->drop_path_rate(), 0.1);
  EXPECT_DOUBLE_EQ(modules["blocks.2"]->as<Block>()->drop_path_rate(), 0.2);
  // In training the last block's branches are dropped for some samples: outputs change.
  torch::manual_seed(3);
  VisionTransformer heavy(small_vit(0.9));
  const torch::Tensor images = torch::randn({16, 3, 8, 8});
  heavy->train();
  const torch::Tensor a = heavy->forward_features(images);
  heavy->eval();
  EXPECT_FALSE(torch::allclose(a, heavy->forward_features(images)));
}

TEST(DropPath, RateOutsideZeroOneIsAnError) {
  EXPECT_THROW(validate_vit_config(small_vit(1.0)), Error);
  EXPECT_THROW(validate_vit_config(small_vit(-0.1)), Error);
  EXPECT_THROW(drop_path(torch::ones({2, 2}), 1.0, true), Error);
}

}  // namespace
}  // namespace clustermim
