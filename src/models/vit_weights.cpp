/*
 * Encoder weights as timm-named safetensors, and frozen encoders from either file (see vit_weights.h).
 */
#include "models/vit_weights.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "backend/tensor_io.h"
#include "core/error.h"
#include "models/checkpoint_file.h"

namespace clustermim {

namespace {

namespace F = torch::nn::functional;

const char* const kVitMeta = "clustermim.vit";
const char* const kStatsMeta = "clustermim.stats";

/// A metadata entry parsed as JSON (null when absent); Error naming the file when malformed.
nlohmann::json meta_json(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata.find(key);
  if (it == file.metadata.end()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  CM_REQUIRE(!j.is_discarded() && j.is_object(), file.source, ": metadata '", key,
             "' is not a JSON object");
  return j;
}

const std::vector<int64_t>& shape_of(const SafetensorsFile& file, const std::string& name,
                                     size_t rank) {
  const TensorRecord& r = file.get(name);
  CM_REQUIRE(r.shape.size() == rank, file.source, ": tensor '", name, "' should have ", rank,
             " dimensions, has ", r.shape.size());
  return r.shape;
}

/// pos_embed [1, 1+g*g, D] -> [1, 1+grid*grid, D], bicubic on the patch part (CLS row kept).
torch::Tensor resample_pos_embed(const torch::Tensor& pos, int64_t grid, const std::string& source) {
  const int64_t n = pos.size(1) - 1, d = pos.size(2);
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  CM_REQUIRE(g * g == n, source, ": pos_embed has ", n, " patch positions, not a square grid");
  const torch::Tensor patches = pos.slice(1, 1).reshape({1, g, g, d}).permute({0, 3, 1, 2});
  const torch::Tensor resized = F::interpolate(
      patches, F::InterpolateFuncOptions().size(std::vector<int64_t>{grid, grid})
                   .mode(torch::kBicubic).align_corners(false));
  return torch::cat({pos.slice(1, 0, 1), resized.permute({0, 2, 3, 1}).reshape({1, grid * grid, d})}, 1);
}

bool is_head_key(const std::string& name) { return name.rfind("head.", 0) == 0 || name == "head"; }

}  // namespace

ChannelStats imagenet_stats() {
  ChannelStats s;
  s.mean = {0.485f, 0.456f, 0.406f};
  s.std = {0.229f, 0.224f, 0.225f};
  return s;
}

std::vector<TensorRecord> encoder_records(VisionTransformer& encoder) {
  std::vector<TensorRecord> out;
  for (const auto& item : encoder->named_parameters()) {
    const torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    TensorRecord r;
    r.name = item.key();
    r.dtype = DType::F32;
    r.shape = t.sizes().vec();
    r.data.resize(static_cast<size_t>(t.numel()) * sizeof(float));
    std::memcpy(r.data.data(), t.data_ptr<float>(), r.data.size());
    out.push_back(std::move(r));
  }
  return out;
}

void save_encoder_safetensors(VisionTransformer& encoder, const ChannelStats& stats,
                              const std::string& path) {
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {kVitMeta, to_json(encoder->config()).dump()},
      {kStatsMeta, nlohmann::json{{"mean", stats.mean}, {"std", stats.std}}.dump()}};
  save_safetensors(path, encoder_records(encoder), meta);
}

VitConfig infer_vit_config(const SafetensorsFile& file, int64_t heads) {
  const std::string& src = file.source;
  const auto& proj = shape_of(file, "patch_embed.proj.weight", 4);
  CM_REQUIRE(proj[2] == proj[3], src, ": patch_embed.proj.weight has non-square patches");
  VitConfig c;
  c.dim = proj[0];
  c.in_chans = proj[1];
  c.patch_size = proj[2];
  const auto& pos = shape_of(file, "pos_embed", 3);
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pos[1] - 1))));
  CM_REQUIRE(pos[0] == 1 && pos[2] == c.dim && grid * grid == pos[1] - 1, src,
             ": pos_embed should be [1, 1 + grid^2, ", c.dim, "] (a class token and a square grid)");
  c.image_size = grid * c.patch_size;
  c.depth = 0;
  while (file.contains("blocks." + std::to_string(c.depth) + ".norm1.weight")) ++c.depth;
  CM_REQUIRE(c.depth > 0, src, ": no blocks.0.* tensors (not a timm VisionTransformer?)");
  c.mlp_ratio = static_cast<double>(shape_of(file, "blocks.0.mlp.fc1.weight", 2)[0]) / c.dim;
  const nlohmann::json ours = meta_json(file, kVitMeta);
  if (heads > 0) {
    c.heads = heads;
  } else if (ours.is_object() && ours.contains("heads") && ours["heads"].is_number_integer()) {
    c.heads = ours["heads"].get<int64_t>();
  } else {
    CM_REQUIRE(c.dim % 64 == 0, src, ": cannot infer the number of heads of a ", c.dim,
               "-d ViT (not a multiple of 64); pass it explicitly (--teacher-heads)");
    c.heads = c.dim / 64;
  }
  validate_vit_config(c);
  return c;
}

void load_encoder_weights(const SafetensorsFile& file, VisionTransformer& encoder) {
  auto params = encoder->named_parameters();
  int64_t ignored = 0;
  for (const TensorRecord& r : file.tensors) {
    if (is_head_key(r.name)) {
      ++ignored;
      continue;
    }
    CM_REQUIRE(params.contains(r.name), file.source, ": unexpected tensor '", r.name,
               "' (not a key of a timm VisionTransformer with num_classes=0)");
  }
  if (ignored > 0) spdlog::info("{}: ignoring {} classifier head tensors", file.source, ignored);
  torch::NoGradGuard no_grad;
  for (auto& item : params) {
    const std::string& name = item.key();
    CM_REQUIRE(file.contains(name), file.source, ": missing tensor '", name, "'");
    const TensorRecord& r = file.get(name);
    CM_REQUIRE(r.dtype == DType::F32 || r.dtype == DType::BF16, file.source, ": tensor '", name,
               "' is ", dtype_name(r.dtype), ", expected a float type");
    torch::Tensor value = record_to_tensor(r).to(torch::kFloat32);
    torch::Tensor& target = item.value();
    if (name == "pos_embed" && value.dim() == 3 && value.size(1) != target.size(1)) {
      const auto grid = encoder->config().image_size / encoder->config().patch_size;
      value = resample_pos_embed(value, grid, file.source);
    }
    CM_REQUIRE(value.sizes() == target.sizes(), file.source, ": tensor '", name, "' has shape ",
               value.sizes(), " but the encoder expects ", target.sizes());
    target.copy_(value.to(target.device()));
  }
}

FrozenEncoder frozen_encoder(const VitConfig& config, const SafetensorsFile& weights,
                             const ChannelStats& stats, const std::string& source) {
  FrozenEncoder t;
  t.encoder = VisionTransformer(config);
  t.stats = stats;
  t.source = source;
  load_encoder_weights(weights, t.encoder);
  t.encoder->eval();
  for (auto& p : t.encoder->parameters()) p.set_requires_grad(false);
  return t;
}

FrozenEncoder load_encoder(const std::string& path, int64_t grid, int64_t heads) {
  ChannelStats stats = imagenet_stats();
  SafetensorsFile weights;
  VitConfig config;
  if (std::filesystem::path(path).extension() == ".safetensors") {
    weights = load_safetensors(path);
    config = infer_vit_config(weights, heads);
    const nlohmann::json recorded = meta_json(weights, kStatsMeta);
    if (recorded.is_object()) {
      try {
        stats.mean = recorded.at("mean").get<std::array<float, 3>>();
        stats.std = recorded.at("std").get<std::array<float, 3>>();
      } catch (const nlohmann::json::exception& e) {
        fail(path, ": metadata '", kStatsMeta, "' is malformed (", e.what(), ")");
      }
    }
  } else {
    const Checkpoint checkpoint = load_checkpoint(path);
    const CheckpointModelSpec& spec = checkpoint_model_spec(checkpoint);
    config = spec.mim.encoder;
    stats = spec.stats;
    if (heads > 0) config.heads = heads;
    weights = checkpoint_encoder_weights(checkpoint);
  }
  if (grid > 0) config.image_size = grid * config.patch_size;
  return frozen_encoder(config, weights, stats, path);
}

}  // namespace clustermim
