/*
 * Weights interchange and teachers: an exported encoder imports to identical features; a
 * safetensors file written by hand in timm's naming (some tensors F16) imports with its values;
 * bad files fail naming file and tensor; pos_embed resampling keeps the CLS row; a checkpoint
 * is a teacher equal to the encoder it holds. That timm itself reads the export is shown by
 * behaviour in tests/python/test_timm_compat.py.
 */
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/mim.h"
#include "models/vit_weights.h"
#include "support/fixtures.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

namespace clustermim {
namespace {

using testing::TempDir;
using testing::error_of;

VitConfig tiny_vit() {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  return c;
}

torch::Tensor images(int64_t n = 3, int64_t size = 8) {
  torch::manual_seed(5);
  return torch::randn({n, 3, size, size});
}

TEST(Weights, ExportImportGivesIdenticalFeatures) {
  TempDir dir;
  torch::manual_seed(1);
  VisionTransformer a(tiny_vit());
  ChannelStats stats;
  stats.mean = {0.1f, 0.2f, 0.3f};
  save_encoder_safetensors(a, stats, dir.file("enc.safetensors"));

  const SafetensorsFile f = load_safetensors(dir.file("enc.safetensors"));
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_TRUE(f.contains("blocks.1.attn.qkv.weight"));
  EXPECT_FALSE(f.contains("encoder.cls_token"));
  FrozenEncoder t = load_encoder(dir.file("enc.safetensors"));
  EXPECT_EQ(t.encoder->config().heads, 2) << "heads come from our metadata";
  EXPECT_FLOAT_EQ(t.stats.mean[1], 0.2f);
  torch::NoGradGuard no_grad;
  a->eval();
  EXPECT_TRUE(torch::equal(a->forward_features(images()), t.encoder->forward_features(images())));
}

/// Appends `values` as F16 (exactly representable halves) or F32 little-endian bytes.
void append_values(std::string& data, const std::vector<float>& values, bool half) {
  for (float v : values) {
    if (half) {
      const torch::Tensor h = torch::tensor({v}).to(torch::kHalf);
      data.append(reinterpret_cast<const char*>(h.data_ptr()), 2);
    } else {
      data.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
}

/// A timm-named ViT (dim 64, depth 1, patch 2, grid 2, so heads = 64/64 = 1) written byte by
/// byte as the safetensors format specifies; every value is i * 2^-6 for its index i.
std::string write_timm_fixture(const TempDir& dir, const std::string& drop = "",
                               const std::string& extra = "") {
  const int64_t d = 64;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {
      {"cls_token", {1, 1, d}}, {"pos_embed", {1, 5, d}},
      {"patch_embed.proj.weight", {d, 3, 2, 2}}, {"patch_embed.proj.bias", {d}},
      {"blocks.0.norm1.weight", {d}}, {"blocks.0.norm1.bias", {d}},
      {"blocks.0.attn.qkv.weight", {3 * d, d}}, {"blocks.0.attn.qkv.bias", {3 * d}},
      {"blocks.0.attn.proj.weight", {d, d}}, {"blocks.0.attn.proj.bias", {d}},
      {"blocks.0.norm2.weight", {d}}, {"blocks.0.norm2.bias", {d}},
      {"blocks.0.mlp.fc1.weight", {4 * d, d}}, {"blocks.0.mlp.fc1.bias", {4 * d}},
      {"blocks.0.mlp.fc2.weight", {d, 4 * d}}, {"blocks.0.mlp.fc2.bias", {d}},
      {"norm.weight", {d}}, {"norm.bias", {d}}, {"head.weight", {10, d}}, {"head.bias", {10}}};
  if (!extra.empty()) shapes.push_back({extra, {d}});
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}", data;
  for (const auto& [name, shape] : shapes) {
    if (name == drop) continue;
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    std::vector<float> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(i % 64) / 64.0f;
    const bool half = name.find("weight") != std::string::npos;
    const size_t begin = data.size();
    append_values(data, values, half);
    std::string dims;
    for (int64_t s : shape) dims += (dims.empty() ? "" : ",") + std::to_string(s);
    header += ",\"" + name + "\":{\"dtype\":\"" + (half ? "F16" : "F32") + "\",\"shape\":[" + dims +
              "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  while (header.size() % 8 != 0) header += ' ';
  const std::string path = dir.file("timm.safetensors");
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
  return path;
}

TEST(Weights, HandBuiltTimmFileImports) {
  TempDir dir;
  FrozenEncoder t = load_encoder(write_timm_fixture(dir));
  const VitConfig& c = t.encoder->config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.depth, 1);
  EXPECT_EQ(c.heads, 1);
  EXPECT_EQ(c.patch_size, 2);
  EXPECT_EQ(c.image_size, 4);
  EXPECT_DOUBLE_EQ(c.mlp_ratio, 4.0);
  EXPECT_FLOAT_EQ(t.stats.mean[0], imagenet_stats().mean[0]) << "no stats in the file: ImageNet's";
  auto params = t.encoder->named_parameters();
  EXPECT_FLOAT_EQ(params["blocks.0.mlp.fc1.weight"][0][5].item<float>(), 5.0f / 64);  // F16 -> F32
  EXPECT_FLOAT_EQ(params["norm.bias"][63].item<float>(), 63.0f / 64);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::isfinite(t.encoder->forward_features(torch::randn({2, 3, 4, 4}))).all().item<bool>());
}

TEST(Weights, BadFilesNameFileAndTensor) {
  TempDir dir;
  std::string msg = error_of([&] { load_encoder(write_timm_fixture(dir, "blocks.0.attn.proj.bias")); });
  EXPECT_NE(msg.find("timm.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks.0.attn.proj.bias"), std::string::npos) << msg;
  msg = error_of([&] { load_encoder(write_timm_fixture(dir, "", "blocks.0.ls1.gamma")); });
  EXPECT_NE(msg.find("unexpected tensor 'blocks.0.ls1.gamma'"), std::string::npos) << msg;
  msg = error_of([&] { load_encoder(write_timm_fixture(dir), 0, 3); });
  EXPECT_NE(msg.find("heads"), std::string::npos) << "64 is not a multiple of 3 heads: " << msg;
}

TEST(Weights, PosEmbedResampledToTheStudentGrid) {
  TempDir dir;
  const std::string path = write_timm_fixture(dir);
  FrozenEncoder native = load_encoder(path), wide = load_encoder(path, 4);
  EXPECT_EQ(wide.encoder->config().image_size, 8);
  const auto p = wide.encoder->named_parameters()["pos_embed"];
  EXPECT_EQ(p.sizes(), torch::IntArrayRef({1, 17, 64}));
  EXPECT_TRUE(torch::equal(p.slice(1, 0, 1), native.encoder->named_parameters()["pos_embed"].slice(1, 0, 1)));
}

TEST(Weights, CheckpointIsATeacher) {
  TempDir dir;
  MimConfig mc;
  mc.encoder = tiny_vit();
  mc.decoder.dim = 16;
  mc.decoder.depth = 1;
  mc.decoder.heads = 2;
  mc.target = "pixels";
  torch::manual_seed(3);
  MimModel model(mc);
  AdamW opt(*model, {});
  CheckpointInfo info;
  info.config = {{"mim", to_json(mc)}, {"stats", {{"mean", {0.5, 0.5, 0.5}}, {"std", {0.2, 0.2, 0.2}}}}};
  const std::string path = save_checkpoint(dir.path(), *model, &opt, nullptr, info, 1);
  FrozenEncoder t = load_encoder(path);
  EXPECT_FLOAT_EQ(t.stats.std[2], 0.2f);
  torch::NoGradGuard no_grad;
  model->encoder()->eval();
  EXPECT_TRUE(torch::equal(model->encoder()->forward_features(images()),
                           t.encoder->forward_features(images())));
}

}  // namespace
}  // namespace clustermim
