/*
 * ClusterMIM / MAE pretraining model: random masking, the ViT encoder on visible patches, MAE's
 * decoder, a prediction head (K token logits for ClusterMIM, p*p*C pixels for MAE) and the losses
 * on masked patches. Also the model config (presets, JSON round trip with validation).
 *
 * Parameter names follow MAE's MaskedAutoencoderViT, with the encoder under "encoder."
 * (strip that prefix to get a timm VisionTransformer state dict):
 *   encoder.*, decoder_embed [Dd, D], mask_token [1, 1, Dd], decoder_pos_embed [1, 1+L, Dd]
 *   (frozen sin-cos, requires_grad = false), decoder_blocks.N.*, decoder_norm,
 *   decoder_pred [out, Dd].
 *
 * Order of predictions: the head runs only on masked patches. Row r of `predictions` [M, out] is
 * patch masked_ids[b][j] of image b with r = b * Lm + j, masked_ids ascending per row: the order
 * of `mask.nonzero()` / boolean indexing with masked_positions(), row-major over [B, L]. Every
 * image has the same number Lm = L - Lk of masked patches, so M = B * Lm. gather_masked() puts
 * per-patch targets [B, L, ...] in the same order.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/vit.h"

namespace clustermim {

/// MAE decoder shape (its MLP ratio is the encoder's).
struct DecoderConfig {
  int64_t dim = 128;  ///< decoder width Dd (multiple of heads and of 4)
  int64_t depth = 4;  ///< decoder blocks
  int64_t heads = 4;  ///< decoder attention heads
};

/// Everything needed to build a MimModel.
struct MimConfig {
  VitConfig encoder;
  DecoderConfig decoder;
  std::string target = "tokens";  ///< "tokens" (ClusterMIM, K logits) | "pixels" (MAE)
  int64_t vocab = 64;             ///< K, the number of token classes (target "tokens")
  bool norm_pix = true;           ///< per-patch normalised pixel targets (target "pixels")
  double mask_ratio = 0.75;       ///< fraction of patches masked, in (0, 1)

  /// Width of the head: vocab for "tokens", patch_size^2 * in_chans for "pixels".
  int64_t output_dim() const;
};

/// Presets (target "tokens", vocab 64, mask 0.75; change those fields as needed):
///  - vit-tiny-28:  28 px (Fashion-MNIST, grey repeated to 3 channels), patch 4 (7x7 = 49
///                  patches), encoder 128-d x 6, 4 heads; decoder 96-d x 2, 4 heads. Ours: small
///                  enough for quick runs on 2 CPU cores.
///  - vit-tiny-32:  32 px (CIFAR), patch 4, 192-d x 12, 3 heads; decoder 128-d x 4, 4 heads.
///  - vit-small-16: 224 px, patch 16, 384-d x 12, 6 heads; decoder 256-d x 8, 8 heads.
///  - vit-base-16:  224 px, patch 16, 768-d x 12, 12 heads; decoder 512-d x 8, 16 heads.
///  - vit-s16-224, vit-b16-224, vit-l16-224: timm's ViT-S/16 (384-d x 12, 6 heads), ViT-B/16
///                  (768-d x 12, 12 heads) and ViT-L/16 (1024-d x 24, 16 heads) at 224 px, each
///                  with MAE's decoder (512-d x 8, 16 heads).
/// Throws clustermim::Error listing the valid names for an unknown name.
MimConfig mim_preset(const std::string& name);

/// Names accepted by mim_preset, in the order above.
std::vector<std::string> mim_preset_names();

/// Throws clustermim::Error unless the config is buildable: positive sizes, dim % heads == 0 and
/// dim % 4 == 0 (encoder and decoder), image % patch == 0, target known, vocab >= 2 for tokens,
/// mask_ratio in (0, 1) keeping at least one and masking at least one patch.
void validate_mim_config(const MimConfig& config);

/// {image_size, patch_size, in_chans, dim, depth, heads, mlp_ratio}.
nlohmann::json to_json(const VitConfig& config);
/// Inverse of to_json(VitConfig): missing keys keep the defaults; unknown keys, wrong types and
/// invalid configs throw clustermim::Error.
VitConfig vit_config_from_json(const nlohmann::json& json);

/// {"encoder": {image_size, patch_size, in_chans, dim, depth, heads, mlp_ratio},
///  "decoder": {dim, depth, heads}, "target", "vocab", "norm_pix", "mask_ratio"}.
nlohmann::json to_json(const MimConfig& config);

/// Inverse of to_json. Missing keys keep MimConfig's defaults; unknown keys, wrong types and
/// invalid configs (validate_mim_config) throw clustermim::Error.
MimConfig mim_config_from_json(const nlohmann::json& json);

/// One random masking of a batch (MAE's random_masking).
struct Masking {
  torch::Tensor ids_keep;     ///< [B, Lk] int64, kept patch ids in shuffle order
  torch::Tensor mask;         ///< [B, L] float32, 1 = masked, 0 = kept
  torch::Tensor ids_restore;  ///< [B, L] int64, inverse of the shuffle (argsort of ids_shuffle)
};

/// Patches kept at `ratio`: int(patches * (1 - ratio)), computed in double exactly like Python.
int64_t num_kept(int64_t patches, double ratio);

/// Per sample: uniform noise [B, L], ids_shuffle = argsort ascending, keep the first
/// num_kept(L, ratio). The noise is drawn on the CPU (from `generator` when given, else from the
/// default CPU generator), so a seed gives the same masks on every device; the result is then
/// moved to `device`. Requires 0 <= ratio < 1 and at least one kept patch.
Masking random_masking(int64_t batch, int64_t patches, double ratio, torch::Device device,
                       c10::optional<at::Generator> generator = c10::nullopt);

/// bool [B, L], true where masked.
torch::Tensor masked_positions(const Masking& masking);

/// [B, Lm] int64, the masked patch ids of each image in ascending order.
torch::Tensor masked_ids(const Masking& masking);

/// per_patch [B, L, ...] -> [M, ...], the masked patches in prediction order (see file comment).
torch::Tensor gather_masked(const torch::Tensor& per_patch, const Masking& masking);

/// What MimModel::forward returns.
struct MimOutput {
  torch::Tensor predictions;  ///< [M, out] head outputs at the masked patches, M = B * Lm
  torch::Tensor masked_ids;   ///< [B, Lm] int64: row b * Lm + j of predictions is patch [b][j]
};

/// Encoder + MAE decoder + head.
///
/// Init (MAE): the encoder as VisionTransformer; decoder Linear weights xavier-uniform with zero
/// biases, LayerNorms 1/0, mask_token N(0, 0.02), decoder_pos_embed fixed sin-cos.
class MimModelImpl : public torch::nn::Module {
 public:
  explicit MimModelImpl(const MimConfig& config);

  /// images [B, C, H, W], masking for B x L -> predictions at masked patches (see MimOutput).
  /// The decoder runs on all 1+L positions (kept tokens unshuffled, mask tokens elsewhere); the
  /// head runs on the masked ones only.
  MimOutput forward(const torch::Tensor& images, const Masking& masking);

  /// The encoder (registered as "encoder").
  VisionTransformer& encoder() { return encoder_; }
  const MimConfig& config() const { return config_; }

 private:
  MimConfig config_;
  VisionTransformer encoder_{nullptr};
  torch::nn::Linear decoder_embed_{nullptr};
  torch::Tensor mask_token_, decoder_pos_embed_;
  torch::nn::ModuleList decoder_blocks_;
  torch::nn::LayerNorm decoder_norm_{nullptr};
  torch::nn::Linear decoder_pred_{nullptr};
};
TORCH_MODULE(MimModel);

/// Cross-entropy over masked patches, averaged: predictions [M, K] logits, targets [B, L] int64.
/// With label smoothing eps: (1 - eps) * nll + eps * mean_k(-log_softmax) (PyTorch's definition).
/// Computed in float32. Returns a scalar.
torch::Tensor token_loss(const torch::Tensor& predictions, const torch::Tensor& targets,
                         const Masking& masking, double label_smoothing = 0.0);

/// MSE over masked patches and their p*p*C values (MAE): predictions [M, p*p*C], images
/// [B, C, H, W]; targets patchify(images), per-patch normalised when norm_pix. Scalar, float32.
torch::Tensor pixel_loss(const torch::Tensor& predictions, const torch::Tensor& images,
                         const Masking& masking, int64_t patch, bool norm_pix);

/// Fraction of masked patches whose argmax logit equals the target: predictions [M, K],
/// targets [B, L] int64.
double masked_accuracy(const torch::Tensor& predictions, const torch::Tensor& targets,
                       const Masking& masking);

}  // namespace clustermim
