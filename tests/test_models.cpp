/*
 * The ViT encoder and the ClusterMIM / MAE model: timm parameter names and shapes, MAE's sin-cos
 * position table (against an explicit loop of its numpy formula), random masking invariants,
 * visible-only encoding, loss definitions (masked patches only, label smoothing, norm_pix), that
 * gradients reach the encoder and a few AdamW steps learn, presets and the JSON config.
 * Tiny configs (16 px, dim 32, depth 2) keep the suite fast; one test builds vit-tiny-32.
 */
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <set>

#include "backend/torch_compat.h"
#include "core/error.h"
#include "models/mim.h"
#include "models/patchify.h"

namespace clustermim {
namespace {

VitConfig tiny_vit() {
  VitConfig c;
  c.image_size = 16;
  c.patch_size = 4;
  c.dim = 32;
  c.depth = 2;
  c.heads = 2;
  return c;
}

MimConfig tiny_mim(const std::string& target) {
  MimConfig c;
  c.encoder = tiny_vit();
  c.decoder = {32, 2, 2};
  c.target = target;
  c.vocab = 10;
  return c;
}

TEST(VitModel, TimmParameterNamesAndShapes) {
  const int64_t d = 32, l = 16, h = 4 * d;
  std::map<std::string, std::vector<int64_t>> expected = {
      {"cls_token", {1, 1, d}},
      {"pos_embed", {1, 1 + l, d}},
      {"patch_embed.proj.weight", {d, 3, 4, 4}},
      {"patch_embed.proj.bias", {d}},
      {"norm.weight", {d}},
      {"norm.bias", {d}},
  };
  for (int b = 0; b < 2; ++b) {
    const std::string p = "blocks." + std::to_string(b) + ".";
    expected[p + "norm1.weight"] = {d};
    expected[p + "norm1.bias"] = {d};
    expected[p + "attn.qkv.weight"] = {3 * d, d};
    expected[p + "attn.qkv.bias"] = {3 * d};
    expected[p + "attn.proj.weight"] = {d, d};
    expected[p + "attn.proj.bias"] = {d};
    expected[p + "norm2.weight"] = {d};
    expected[p + "norm2.bias"] = {d};
    expected[p + "mlp.fc1.weight"] = {h, d};
    expected[p + "mlp.fc1.bias"] = {h};
    expected[p + "mlp.fc2.weight"] = {d, h};
    expected[p + "mlp.fc2.bias"] = {d};
  }
  VisionTransformer vit(tiny_vit());
  std::map<std::string, std::vector<int64_t>> actual;
  for (const auto& item : vit->named_parameters()) actual[item.key()] = item.value().sizes().vec();
  EXPECT_EQ(actual, expected);
  EXPECT_TRUE(vit->named_buffers().is_empty());
  EXPECT_FALSE(vit->named_parameters()["pos_embed"].requires_grad());
  EXPECT_TRUE(vit->named_parameters()["cls_token"].requires_grad());
  EXPECT_EQ(vit->num_patches(), l);
}

TEST(VitModel, SincosPosEmbedMatchesMaeFormula) {
  const int64_t dim = 16, grid = 3, quarter = dim / 4;
  const torch::Tensor table = sincos_pos_embed_2d(dim, grid, /*cls=*/true);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{1 + grid * grid, dim}));
  ASSERT_EQ(table.scalar_type(), torch::kFloat32);
  auto t = table.accessor<float, 2>();
  for (int64_t j = 0; j < dim; ++j) EXPECT_EQ(t[0][j], 0.0f);
  // get_1d_sincos(D/2, pos): [sin(pos * omega_i), cos(pos * omega_i)], omega_i = 10000^(-i/(D/4));
  // the first half encodes grid[0] of meshgrid(grid_w, grid_h) (the column), the second the row.
  for (int64_t row = 0; row < grid; ++row)
    for (int64_t col = 0; col < grid; ++col)
      for (int64_t half = 0; half < 2; ++half) {
        const double pos = half == 0 ? col : row;
        for (int64_t i = 0; i < quarter; ++i) {
          const double omega = 1.0 / std::pow(10000.0, static_cast<double>(i) / quarter);
          const auto r = 1 + row * grid + col;
          EXPECT_NEAR(t[r][half * dim / 2 + i], std::sin(pos * omega), 1e-6);
          EXPECT_NEAR(t[r][half * dim / 2 + quarter + i], std::cos(pos * omega), 1e-6);
        }
      }
  EXPECT_TRUE(torch::equal(sincos_pos_embed_2d(dim, grid, false), table.slice(0, 1)));
}

TEST(VitModel, ForwardVisibleWithAllPatchesEqualsForwardFeatures) {
  torch::manual_seed(0);
  VisionTransformer vit(tiny_vit());
  const torch::Tensor images = torch::randn({2, 3, 16, 16});
  const torch::Tensor all = torch::arange(16, torch::kLong).unsqueeze(0).expand({2, -1});
  const torch::Tensor features = vit->forward_features(images);
  ASSERT_EQ(features.sizes(), (std::vector<int64_t>{2, 17, 32}));
  EXPECT_TRUE(torch::allclose(vit->forward_visible(images, all), features, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(vit->forward_block_features(images, -1), features));
  EXPECT_EQ(vit->forward_block_features(images, 0).sizes(), features.sizes());
  EXPECT_THROW(vit->forward_block_features(images, 2), Error);
  // Visible-only encoding of a subset: 1 + Lk tokens.
  const torch::Tensor some = torch::tensor({{3, 0, 7}, {15, 1, 2}}, torch::kLong);
  EXPECT_EQ(vit->forward_visible(images, some).sizes(), (std::vector<int64_t>{2, 4, 32}));
}

TEST(VitModel, ApplyLinearMatchesTheModuleInFp32AndBf16) {
  torch::manual_seed(0);
  torch::nn::Linear layer(16, 8);
  const torch::Tensor x = torch::randn({4, 5, 16}, torch::requires_grad());
  auto output_and_grads = [&](bool fused, bool bf16) {
    layer->zero_grad();
    x.mutable_grad() = torch::Tensor();
    torch::Tensor y;
    {
      AutocastGuard autocast(torch::kCPU, torch::kBFloat16, bf16);
      y = fused ? apply_linear(layer, x) : layer(x);
    }
    y.to(torch::kFloat32).pow(2).sum().backward();
    return std::vector<torch::Tensor>{y.to(torch::kFloat32), x.grad(), layer->weight.grad(),
                                      layer->bias.grad()};
  };
  for (const bool bf16 : {false, true}) {
    const auto plain = output_and_grads(false, bf16), fused = output_and_grads(true, bf16);
    const double tol = bf16 ? 3e-2 : 1e-5;
    for (size_t i = 0; i < plain.size(); ++i) {
      EXPECT_TRUE(torch::allclose(fused[i], plain[i], tol, tol)) << "bf16 " << bf16 << ", tensor " << i;
    }
  }
  AutocastGuard autocast(torch::kCPU, torch::kBFloat16, true);
  EXPECT_EQ(apply_linear(layer, x).scalar_type(), torch::kBFloat16);
}

TEST(VitModel, InitFollowsMae) {
  torch::manual_seed(0);
  VisionTransformer vit(tiny_vit());
  auto params = vit->named_parameters();
  EXPECT_EQ(params["blocks.0.attn.qkv.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(params["norm.weight"].min().item<float>(), 1.0f);
  // xavier-uniform on the [D, C*p*p] view: bound sqrt(6 / (C*p*p + D)).
  const double bound = std::sqrt(6.0 / (48 + 32));
  EXPECT_LE(params["patch_embed.proj.weight"].abs().max().item<double>(), bound);
  EXPECT_GT(params["patch_embed.proj.weight"].abs().max().item<double>(), 0.8 * bound);
  EXPECT_NEAR(params["cls_token"].std().item<double>(), 0.02, 0.01);
}

TEST(MaskingTest, KeepsIntCountAndRestoreInvertsShuffle) {
  EXPECT_EQ(num_kept(64, 0.75), 16);
  EXPECT_EQ(num_kept(49, 0.75), 12);
  EXPECT_EQ(num_kept(196, 0.75), 49);
  EXPECT_EQ(num_kept(10, 0.7), 3);  // 10 * 0.30000000000000004 = 3.0000000000000004 in Python
  const int64_t b = 5, l = 64, keep = 16;
  const Masking m = random_masking(b, l, 0.75, torch::kCPU, at::detail::createCPUGenerator(7));
  ASSERT_EQ(m.ids_keep.sizes(), (std::vector<int64_t>{b, keep}));
  ASSERT_EQ(m.mask.sizes(), (std::vector<int64_t>{b, l}));
  ASSERT_EQ(m.ids_restore.sizes(), (std::vector<int64_t>{b, l}));
  EXPECT_TRUE(torch::equal(m.mask.sum(1), torch::full({b}, static_cast<float>(l - keep))));
  const torch::Tensor ids_shuffle = torch::argsort(m.ids_restore, /*dim=*/1, /*descending=*/false);
  EXPECT_TRUE(torch::equal(ids_shuffle.slice(1, 0, keep), m.ids_keep));
  EXPECT_TRUE(torch::equal(ids_shuffle.gather(1, m.ids_restore),
                           torch::arange(l, torch::kLong).expand({b, l})));
  for (int64_t r = 0; r < b; ++r) {
    auto ids = m.ids_keep[r];
    std::set<int64_t> unique(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + keep);
    EXPECT_EQ(static_cast<int64_t>(unique.size()), keep);
    for (int64_t id : unique) EXPECT_EQ(m.mask[r][id].item<float>(), 0.0f);
  }
  const Masking again = random_masking(b, l, 0.75, torch::kCPU, at::detail::createCPUGenerator(7));
  EXPECT_TRUE(torch::equal(again.ids_keep, m.ids_keep));
  const Masking other = random_masking(b, l, 0.75, torch::kCPU, at::detail::createCPUGenerator(8));
  EXPECT_FALSE(torch::equal(other.ids_keep, m.ids_keep));
}

TEST(MaskingTest, GatherMaskedFollowsBooleanIndexOrder) {
  const Masking m = random_masking(3, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(1));
  const torch::Tensor x = torch::randn({3, 16, 5});
  const torch::Tensor bools = masked_positions(m);
  EXPECT_EQ(bools.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(gather_masked(x, m), x.index({bools})));
  const torch::Tensor targets = torch::randint(10, {3, 16}, torch::kLong);
  EXPECT_TRUE(torch::equal(gather_masked(targets, m), targets.index({bools})));
  const torch::Tensor ids = masked_ids(m);
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{3, 12}));
  EXPECT_TRUE(torch::equal(ids, bools.nonzero().select(1, 1).reshape({3, 12})));
}

TEST(MaeModel, PredictionsOnlyAtMaskedPatches) {
  torch::manual_seed(0);
  MimModel model(tiny_mim("tokens"));
  const Masking m = random_masking(2, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(3));
  const MimOutput out = model->forward(torch::randn({2, 3, 16, 16}), m);
  EXPECT_EQ(out.predictions.sizes(), (std::vector<int64_t>{24, 10}));
  EXPECT_TRUE(torch::equal(out.masked_ids, masked_ids(m)));
  std::set<std::string> names;
  for (const auto& item : model->named_parameters()) names.insert(item.key());
  for (const char* name :
       {"encoder.cls_token", "encoder.blocks.1.mlp.fc2.bias", "decoder_embed.weight", "mask_token",
        "decoder_pos_embed", "decoder_blocks.1.attn.qkv.weight", "decoder_norm.weight",
        "decoder_pred.weight"})
    EXPECT_EQ(names.count(name), 1u) << name;
  EXPECT_FALSE(model->named_parameters()["decoder_pos_embed"].requires_grad());
}

TEST(MaeModel, TokenLossIgnoresVisibleTargets) {
  torch::manual_seed(0);
  MimModel model(tiny_mim("tokens"));
  const Masking m = random_masking(2, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(4));
  const torch::Tensor predictions = model->forward(torch::randn({2, 3, 16, 16}), m).predictions;
  const torch::Tensor targets = torch::randint(10, {2, 16}, torch::kLong);
  const torch::Tensor changed = torch::where(masked_positions(m), targets, (targets + 1) % 10);
  ASSERT_FALSE(torch::equal(changed, targets));
  EXPECT_TRUE(torch::equal(token_loss(predictions, targets, m, 0.1),
                           token_loss(predictions, changed, m, 0.1)));
  EXPECT_EQ(masked_accuracy(predictions, targets, m), masked_accuracy(predictions, changed, m));
}

TEST(MaeModel, TokenLossMatchesCrossEntropyWithLabelSmoothing) {
  const Masking m = random_masking(2, 16, 0.5, torch::kCPU, at::detail::createCPUGenerator(5));
  const torch::Tensor predictions = torch::randn({16, 7});
  const torch::Tensor targets = torch::randint(7, {2, 16}, torch::kLong);
  const torch::Tensor selected = targets.index({masked_positions(m)});
  namespace F = torch::nn::functional;
  for (double eps : {0.0, 0.1}) {
    const torch::Tensor expected =
        F::cross_entropy(predictions, selected, F::CrossEntropyFuncOptions().label_smoothing(eps));
    EXPECT_NEAR(token_loss(predictions, targets, m, eps).item<double>(), expected.item<double>(),
                1e-5);
  }
  const torch::Tensor perfect = torch::one_hot(selected, 7).to(torch::kFloat32);
  EXPECT_EQ(masked_accuracy(perfect, targets, m), 1.0);
}

TEST(MaeModel, TokenLossGradientMatchesCrossEntropy) {
  // token_loss has a hand-written backward; autograd through LibTorch's cross_entropy is the
  // reference, also for an upstream gradient other than 1 and a bf16 input.
  const Masking m = random_masking(4, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(7));
  const torch::Tensor targets = torch::randint(11, {4, 16}, torch::kLong);
  const torch::Tensor selected = targets.index({masked_positions(m)});
  namespace F = torch::nn::functional;
  for (double eps : {0.0, 0.1}) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const torch::Tensor ours = (4 * torch::randn({48, 11})).to(dtype).requires_grad_();
      const torch::Tensor ref = ours.detach().clone().requires_grad_();
      (3 * token_loss(ours, targets, m, eps)).backward();
      (3 * F::cross_entropy(ref.to(torch::kFloat32), selected,
                            F::CrossEntropyFuncOptions().label_smoothing(eps))).backward();
      EXPECT_EQ(ours.grad().scalar_type(), dtype);
      EXPECT_TRUE(torch::allclose(ours.grad().to(torch::kFloat32), ref.grad().to(torch::kFloat32),
                                  1e-5, 1e-6))
          << "eps " << eps << " dtype " << dtype;
    }
  }
}

TEST(MaeModel, PixelLossMatchesDirectComputation) {
  const int64_t b = 2, l = 16, dims = 4 * 4 * 3;
  const Masking m = random_masking(b, l, 0.75, torch::kCPU, at::detail::createCPUGenerator(6));
  const torch::Tensor images = torch::randn({b, 3, 16, 16});
  const torch::Tensor predictions = torch::randn({b * 12, dims});
  // MAE: full prediction map, per-patch normalised targets, mean over dims, masked average.
  torch::Tensor full = torch::zeros({b, l, dims});
  full.index_put_({masked_positions(m)}, predictions);
  const torch::Tensor patches = patchify(images, 4);
  const torch::Tensor mean = patches.mean(-1, true), var = patches.var(-1, true, true);
  const torch::Tensor target = (patches - mean) / (var + 1e-6).sqrt();
  const torch::Tensor per_patch = (full - target).pow(2).mean(-1);
  const double expected = ((per_patch * m.mask).sum() / m.mask.sum()).item<double>();
  EXPECT_NEAR(pixel_loss(predictions, images, m, 4, true).item<double>(), expected, 1e-5);
  const torch::Tensor raw = ((full - patches).pow(2).mean(-1) * m.mask).sum() / m.mask.sum();
  EXPECT_NEAR(pixel_loss(predictions, images, m, 4, false).item<double>(), raw.item<double>(),
              1e-5);
}

TEST(MaeModel, GradientReachesEveryTrainableParameter) {
  torch::manual_seed(0);
  MimModel model(tiny_mim("tokens"));
  const Masking m = random_masking(2, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(2));
  const MimOutput out = model->forward(torch::randn({2, 3, 16, 16}), m);
  token_loss(out.predictions, torch::randint(10, {2, 16}, torch::kLong), m, 0.1).backward();
  for (const auto& item : model->named_parameters()) {
    if (!item.value().requires_grad()) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
      continue;
    }
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
  }
}

TEST(MaeModel, AdamWStepsReduceTokenLoss) {
  torch::manual_seed(0);
  MimModel model(tiny_mim("tokens"));
  const torch::Tensor images = torch::randn({4, 3, 16, 16});
  const torch::Tensor targets = torch::randint(10, {4, 16}, torch::kLong);
  const Masking m = random_masking(4, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(9));
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    optimizer.zero_grad();
    const torch::Tensor loss = token_loss(model->forward(images, m).predictions, targets, m);
    loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first);
}

TEST(MaeModel, RunsUnderBf16Autocast) {
  torch::manual_seed(0);
  MimModel model(tiny_mim("pixels"));
  const Masking m = random_masking(2, 16, 0.75, torch::kCPU, at::detail::createCPUGenerator(2));
  const torch::Tensor images = torch::randn({2, 3, 16, 16});
  torch::Tensor loss;
  {
    AutocastGuard autocast(torch::kCPU, torch::kBFloat16, true);
    loss = pixel_loss(model->forward(images, m).predictions, images, m, 4, true);
  }
  EXPECT_EQ(loss.scalar_type(), torch::kFloat32);
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_TRUE(model->named_parameters()["encoder.cls_token"].grad().defined());
}

TEST(MaeModel, PresetShapes) {
  torch::manual_seed(0);
  MimConfig config = mim_preset("vit-tiny-32");
  EXPECT_EQ(config.encoder.dim, 192);
  EXPECT_EQ(config.decoder.depth, 4);
  MimModel model(config);
  const Masking m = random_masking(2, 64, 0.75, torch::kCPU, at::detail::createCPUGenerator(0));
  const torch::Tensor images = torch::randn({2, 3, 32, 32});
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(images, m).predictions.sizes(), (std::vector<int64_t>{96, 64}));
  EXPECT_EQ(model->encoder()->forward_features(images).sizes(), (std::vector<int64_t>{2, 65, 192}));

  for (const auto& name : mim_preset_names())
    EXPECT_NO_THROW(validate_mim_config(mim_preset(name)));
  EXPECT_EQ(mim_preset("vit-tiny-28").encoder.image_size, 28);
  EXPECT_EQ(mim_preset("vit-base-16").decoder.heads, 16);
  config.target = "pixels";
  EXPECT_EQ(config.output_dim(), 48);
  try {
    mim_preset("vit-huge");
    FAIL() << "unknown preset accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vit-tiny-32"), std::string::npos) << e.what();
  }
}

TEST(MaeModel, ConfigJsonRoundTripAndValidation) {
  MimConfig config = mim_preset("vit-small-16");
  config.target = "pixels";
  config.norm_pix = false;
  config.mask_ratio = 0.6;
  const MimConfig back = mim_config_from_json(to_json(config));
  EXPECT_EQ(to_json(back), to_json(config));
  EXPECT_EQ(back.encoder.heads, 6);
  EXPECT_EQ(back.decoder.dim, 256);

  auto rejects = [](nlohmann::json j) { EXPECT_THROW(mim_config_from_json(j), Error) << j.dump(); };
  nlohmann::json j = to_json(config);
  j["encoder"]["heads"] = 5;  // 384 % 5 != 0
  rejects(j);
  j = to_json(config);
  j["encoder"]["patch_size"] = 15;
  rejects(j);
  j = to_json(config);
  j["decoder"]["heads"] = 3;  // 256 % 3 != 0
  rejects(j);
  for (double ratio : {0.0, 1.0, -0.5}) {
    j = to_json(config);
    j["mask_ratio"] = ratio;
    rejects(j);
  }
  j = to_json(config);
  j["target"] = "logits";
  rejects(j);
  j = to_json(config);
  j["encoder"]["depht"] = 3;
  rejects(j);
  j = to_json(config);
  j["vocab"] = "many";
  rejects(j);
  EXPECT_EQ(to_json(mim_config_from_json(nlohmann::json::object())), to_json(MimConfig{}));
}

}  // namespace
}  // namespace clustermim
