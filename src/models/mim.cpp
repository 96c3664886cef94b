/*
 * Masking, MAE decoder, heads, losses and the model config of ClusterMIM pretraining (see mim.h).
 */
#include "models/mim.h"

#include <utility>

#include "core/error.h"
#include "models/patchify.h"

namespace clustermim {

int64_t MimConfig::output_dim() const {
  return target == "tokens" ? vocab : encoder.patch_size * encoder.patch_size * encoder.in_chans;
}

namespace {

MimConfig make_preset(VitConfig encoder, DecoderConfig decoder) {
  MimConfig config;
  config.encoder = encoder;
  config.decoder = decoder;
  return config;
}

const std::vector<std::pair<std::string, MimConfig>>& presets() {
  static const std::vector<std::pair<std::string, MimConfig>> table = {
      {"vit-tiny-28", make_preset({28, 4, 3, 128, 6, 4, 4.0}, {96, 2, 4})},
      {"vit-tiny-32", make_preset({32, 4, 3, 192, 12, 3, 4.0}, {128, 4, 4})},
      {"vit-small-16", make_preset({224, 16, 3, 384, 12, 6, 4.0}, {256, 8, 8})},
      {"vit-base-16", make_preset({224, 16, 3, 768, 12, 12, 4.0}, {512, 8, 16})},
      {"vit-s16-224", make_preset({224, 16, 3, 384, 12, 6, 4.0}, {512, 8, 16})},
      {"vit-b16-224", make_preset({224, 16, 3, 768, 12, 12, 4.0}, {512, 8, 16})},
      {"vit-l16-224", make_preset({224, 16, 3, 1024, 24, 16, 4.0}, {512, 8, 16})},
  };
  return table;
}

/// Reads obj[key] into `out` when present; a wrong type becomes clustermim::Error.
template <typename T>
void read_key(const nlohmann::json& obj, const char* section, const char* key, T& out) {
  const auto it = obj.find(key);
  if (it == obj.end()) return;
  try {
    out = it->template get<T>();
  } catch (const nlohmann::json::exception& e) {
    fail("model config: ", section, key, ": ", e.what());
  }
}

/// Throws when `obj` is not an object or has a key outside `allowed`.
void check_keys(const nlohmann::json& obj, const char* section,
                const std::vector<std::string>& allowed) {
  CM_REQUIRE(obj.is_object(), "model config: ", section, " must be a JSON object");
  for (const auto& item : obj.items()) {
    bool known = false;
    for (const auto& name : allowed) known = known || item.key() == name;
    CM_REQUIRE(known, "model config: unknown key '", section, item.key(), "'");
  }
}

/// Index for gathering rows along dim 1: ids [B, N] -> [B, N, dim].
torch::Tensor expand_index(const torch::Tensor& ids, int64_t dim) {
  return ids.unsqueeze(-1).expand({-1, -1, dim});
}

}  // namespace

MimConfig mim_preset(const std::string& name) {
  for (const auto& [preset_name, config] : presets())
    if (preset_name == name) return config;
  std::string valid;
  for (const auto& preset_name : mim_preset_names())
    valid += (valid.empty() ? "" : ", ") + preset_name;
  fail("unknown model.preset '", name, "' (valid: ", valid, ")");
}

std::vector<std::string> mim_preset_names() {
  std::vector<std::string> names;
  for (const auto& preset : presets()) names.push_back(preset.first);
  return names;
}

int64_t num_kept(int64_t patches, double ratio) {
  return static_cast<int64_t>(static_cast<double>(patches) * (1.0 - ratio));
}

void validate_mim_config(const MimConfig& c) {
  validate_vit_config(c.encoder);
  const DecoderConfig& d = c.decoder;
  CM_REQUIRE(d.dim > 0 && d.depth > 0 && d.heads > 0,
             "decoder: dim, depth and heads must be positive");
  CM_REQUIRE(d.dim % d.heads == 0, "decoder: dim ", d.dim, " is not a multiple of heads ", d.heads);
  CM_REQUIRE(d.dim % 4 == 0, "decoder: dim ", d.dim,
             " must be a multiple of 4 (2-D sin-cos position embedding)");
  CM_REQUIRE(c.target == "tokens" || c.target == "pixels", "model target must be 'tokens' or ",
             "'pixels', got '", c.target, "'");
  CM_REQUIRE(c.target != "tokens" || c.vocab >= 2, "vocab must be at least 2, got ", c.vocab);
  CM_REQUIRE(c.mask_ratio > 0 && c.mask_ratio < 1, "mask_ratio must be in (0, 1), got ",
             c.mask_ratio);
  const int64_t grid = c.encoder.image_size / c.encoder.patch_size;
  const int64_t kept = num_kept(grid * grid, c.mask_ratio);
  CM_REQUIRE(kept >= 1 && kept < grid * grid, "mask_ratio ", c.mask_ratio, " keeps ", kept, " of ",
             grid * grid, " patches: at least one must be kept and one masked");
}

nlohmann::json to_json(const VitConfig& e) {
  return {{"image_size", e.image_size}, {"patch_size", e.patch_size}, {"in_chans", e.in_chans},
          {"dim", e.dim},  {"depth", e.depth}, {"heads", e.heads}, {"mlp_ratio", e.mlp_ratio}};
}

VitConfig vit_config_from_json(const nlohmann::json& e) {
  VitConfig c;
  check_keys(e, "encoder.",
             {"image_size", "patch_size", "in_chans", "dim", "depth", "heads", "mlp_ratio"});
  read_key(e, "encoder.", "image_size", c.image_size);
  read_key(e, "encoder.", "patch_size", c.patch_size);
  read_key(e, "encoder.", "in_chans", c.in_chans);
  read_key(e, "encoder.", "dim", c.dim);
  read_key(e, "encoder.", "depth", c.depth);
  read_key(e, "encoder.", "heads", c.heads);
  read_key(e, "encoder.", "mlp_ratio", c.mlp_ratio);
  validate_vit_config(c);
  return c;
}

nlohmann::json to_json(const MimConfig& c) {
  return {
      {"encoder", to_json(c.encoder)},
      {"decoder", {{"dim", c.decoder.dim}, {"depth", c.decoder.depth}, {"heads", c.decoder.heads}}},
      {"target", c.target},
      {"vocab", c.vocab},
      {"norm_pix", c.norm_pix},
      {"mask_ratio", c.mask_ratio}};
}

MimConfig mim_config_from_json(const nlohmann::json& json) {
  MimConfig c;
  check_keys(json, "", {"encoder", "decoder", "target", "vocab", "norm_pix", "mask_ratio"});
  if (json.contains("encoder")) c.encoder = vit_config_from_json(json.at("encoder"));
  if (json.contains("decoder")) {
    const nlohmann::json& d = json.at("decoder");
    check_keys(d, "decoder.", {"dim", "depth", "heads"});
    read_key(d, "decoder.", "dim", c.decoder.dim);
    read_key(d, "decoder.", "depth", c.decoder.depth);
    read_key(d, "decoder.", "heads", c.decoder.heads);
  }
  read_key(json, "", "target", c.target);
  read_key(json, "", "vocab", c.vocab);
  read_key(json, "", "norm_pix", c.norm_pix);
  read_key(json, "", "mask_ratio", c.mask_ratio);
  validate_mim_config(c);
  return c;
}

Masking random_masking(int64_t batch, int64_t patches, double ratio, torch::Device device,
                       c10::optional<at::Generator> generator) {
  CM_REQUIRE(ratio >= 0 && ratio < 1, "mask ratio must be in [0, 1), got ", ratio);
  const int64_t keep = num_kept(patches, ratio);
  CM_REQUIRE(batch > 0, "random_masking: batch must be positive, got ", batch);
  CM_REQUIRE(keep >= 1, "random_masking: ratio ", ratio, " keeps none of ", patches, " patches");
  const torch::Tensor noise = torch::rand({batch, patches}, std::move(generator), torch::kFloat32);
  const torch::Tensor ids_shuffle = torch::argsort(noise, /*dim=*/1, /*descending=*/false);
  const torch::Tensor ids_restore = torch::argsort(ids_shuffle, /*dim=*/1, /*descending=*/false);
  torch::Tensor mask = torch::ones({batch, patches});
  mask.slice(1, 0, keep).zero_();
  mask = mask.gather(1, ids_restore);
  return {ids_shuffle.slice(1, 0, keep).contiguous().to(device), mask.to(device),
          ids_restore.to(device)};
}

torch::Tensor masked_positions(const Masking& masking) { return masking.mask > 0.5; }

torch::Tensor masked_ids(const Masking& masking) {
  const int64_t patches = masking.mask.size(1);
  const int64_t masked = patches - masking.ids_keep.size(1);
  // Masked positions sort first (key < L), kept ones after (key >= L); ties cannot happen.
  const torch::Tensor key = torch::arange(patches, masking.mask.options().dtype(torch::kLong)) +
                            (masking.mask < 0.5).to(torch::kLong) * patches;
  return std::get<1>(key.sort(/*dim=*/1)).slice(1, 0, masked);
}

torch::Tensor gather_masked(const torch::Tensor& per_patch, const Masking& masking) {
  CM_CHECK(per_patch.dim() >= 2 && per_patch.size(0) == masking.mask.size(0) &&
               per_patch.size(1) == masking.mask.size(1),
           "per-patch tensor must be [B, L, ...]");
  const torch::Tensor ids = masked_ids(masking);  // [B, Lm]
  const torch::Tensor flat = per_patch.reshape({per_patch.size(0), per_patch.size(1), -1});
  std::vector<int64_t> shape{-1};
  for (int64_t i = 2; i < per_patch.dim(); ++i) shape.push_back(per_patch.size(i));
  return flat.gather(1, expand_index(ids, flat.size(2))).reshape(shape);
}

MimModelImpl::MimModelImpl(const MimConfig& config) : config_(config) {
  validate_mim_config(config_);
  const VitConfig& e = config_.encoder;
  const DecoderConfig& d = config_.decoder;
  encoder_ = register_module("encoder", VisionTransformer(e));
  decoder_embed_ = register_module("decoder_embed", torch::nn::Linear(e.dim, d.dim));
  mask_token_ = register_parameter("mask_token", torch::zeros({1, 1, d.dim}));
  decoder_pos_embed_ =
      register_parameter("decoder_pos_embed",
                         sincos_pos_embed_2d(d.dim, e.image_size / e.patch_size, true).unsqueeze(0),
                         /*requires_grad=*/false);
  decoder_blocks_ = register_module("decoder_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < d.depth; ++i)
    decoder_blocks_->push_back(Block(d.dim, d.heads, e.mlp_ratio));
  decoder_norm_ = register_module(
      "decoder_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d.dim}).eps(1e-6)));
  decoder_pred_ = register_module("decoder_pred", torch::nn::Linear(d.dim, config_.output_dim()));

  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(mask_token_, 0.0, 0.02);
  init_linear_and_norm(*decoder_embed_);
  init_linear_and_norm(*decoder_blocks_);
  init_linear_and_norm(*decoder_norm_);
  init_linear_and_norm(*decoder_pred_);
}

MimOutput MimModelImpl::forward(const torch::Tensor& images, const Masking& masking) {
  const int64_t b = images.size(0), patches = encoder_->num_patches();
  const int64_t kept = masking.ids_keep.size(1), dd = config_.decoder.dim;
  CM_CHECK(masking.ids_keep.size(0) == b && masking.mask.sizes() == masking.ids_restore.sizes() &&
               masking.mask.size(0) == b && masking.mask.size(1) == patches,
           "masking does not fit images ", images.sizes(), " with ", patches, " patches");

  torch::Tensor x = apply_linear(decoder_embed_, encoder_->forward_visible(images, masking.ids_keep));
  const torch::Tensor mask_tokens = mask_token_.expand({b, patches - kept, dd}).to(x.scalar_type());
  const torch::Tensor unshuffled =
      torch::cat({x.slice(1, 1), mask_tokens}, 1).gather(1, expand_index(masking.ids_restore, dd));
  x = torch::cat({x.slice(1, 0, 1), unshuffled}, 1) + decoder_pos_embed_;
  for (const auto& block : *decoder_blocks_) x = block->as<Block>()->forward(x);
  x = decoder_norm_(x).slice(1, 1);  // [B, L, Dd], CLS dropped

  const torch::Tensor ids = masked_ids(masking);
  const torch::Tensor selected = x.gather(1, expand_index(ids, dd)).reshape({-1, dd});
  return {apply_linear(decoder_pred_, selected), ids};
}

namespace {

/// Cross-entropy with label smoothing e over logits [M, K] and targets [M], averaged over M,
/// with a hand-written backward: d loss / d logits = (softmax - (1 - e) onehot(target) - e / K)
/// / M, three passes over [M, K] where autograd's chain (log_softmax, gather, mean, their
/// backwards, a zero-filled gather gradient, the sum of two gradients) takes about twice as many.
class SmoothedCrossEntropy : public torch::autograd::Function<SmoothedCrossEntropy> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& target, double smoothing) {
    const torch::Tensor log_probs = torch::log_softmax(logits, -1);
    const torch::Tensor picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1);
    ctx->save_for_backward({log_probs, target});
    ctx->saved_data["smoothing"] = smoothing;
    if (smoothing == 0) return -picked.mean();
    return -((1 - smoothing) * picked + smoothing * log_probs.mean(-1)).mean();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_output) {
    const torch::autograd::variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &log_probs = saved[0], &target = saved[1];
    const double smoothing = ctx->saved_data["smoothing"].toDouble();
    const int64_t m = log_probs.size(0), k = log_probs.size(1);
    torch::Tensor grad = log_probs.exp().sub_(smoothing / static_cast<double>(k));
    grad.scatter_add_(1, target.unsqueeze(1), torch::full({m, 1}, smoothing - 1, grad.options()));
    grad.mul_(grad_output[0] / static_cast<double>(m));
    return {grad, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor token_loss(const torch::Tensor& predictions, const torch::Tensor& targets,
                         const Masking& masking, double label_smoothing) {
  CM_CHECK(predictions.dim() == 2 && targets.dim() == 2, "predictions [M, K], targets [B, L]");
  CM_REQUIRE(label_smoothing >= 0 && label_smoothing < 1, "label smoothing must be in [0, 1), got ",
             label_smoothing);
  const torch::Tensor target = gather_masked(targets, masking);  // [M]
  CM_CHECK(target.size(0) == predictions.size(0), "predictions do not match the masking");
  return SmoothedCrossEntropy::apply(predictions.to(torch::kFloat32), target, label_smoothing);
}

torch::Tensor pixel_loss(const torch::Tensor& predictions, const torch::Tensor& images,
                         const Masking& masking, int64_t patch, bool norm_pix) {
  torch::Tensor target = patchify(images.to(torch::kFloat32), patch);  // [B, L, p*p*C]
  if (norm_pix) target = normalize_patches(target);
  target = gather_masked(target, masking);
  CM_CHECK(target.sizes() == predictions.sizes(), "predictions ", predictions.sizes(),
           " do not match masked pixel targets ", target.sizes());
  return (predictions.to(torch::kFloat32) - target).pow(2).mean();
}

double masked_accuracy(const torch::Tensor& predictions, const torch::Tensor& targets,
                       const Masking& masking) {
  const torch::Tensor target = gather_masked(targets, masking);
  CM_CHECK(target.size(0) == predictions.size(0), "predictions do not match the masking");
  return predictions.argmax(-1).eq(target).to(torch::kFloat64).mean().item<double>();
}

}  // namespace clustermim
