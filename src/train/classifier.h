/*
 * The fine-tuning model: our ViT encoder with a classification head (MAE's models_vit.py, a timm
 * VisionTransformer with num_classes > 0).
 *
 * Pooling "avg" (MAE's default for fine-tuning): the encoder's final norm is skipped (frozen and
 * unused, as MAE deletes it), the patch tokens of the last block are averaged and pass through a
 * new LayerNorm `fc_norm`. Pooling "cls": the final norm, then token 0. The head is
 * Linear(D, classes) with weight ~ N(0, (2e-5)^2) truncated at +-2 (MAE's trunc_normal_) and bias
 * 0. Unlike pretraining, pos_embed is trained (timm's ViT has a learnable one; MAE loads the
 * sin-cos table into it). Names: encoder.<timm name>, fc_norm.*, head.*.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "models/vit.h"

namespace clustermim {

/// Everything needed to build a VitClassifier.
struct ClassifierConfig {
  VitConfig encoder;
  int64_t num_classes = 10;
  std::string pooling = "avg";  ///< "avg" (patch-token mean + fc_norm, MAE) | "cls" (norm, token 0)
};

/// Rows of `scores` [B, C] whose `labels` [B] (int64, same device) is among the `k` highest
/// scores: the top-1 / top-5 hit count that fine-tuning, k-NN and the linear probe report (k is
/// clamped to C).
int64_t count_topk_hits(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k);

/// Error unless the config is buildable (encoder valid, >= 1 class, pooling known).
void validate_classifier_config(const ClassifierConfig& config);

/// {"encoder": {...}, "drop_path" (the encoder's, which its JSON leaves out), "num_classes",
///  "pooling"}.
nlohmann::json to_json(const ClassifierConfig& config);

class VitClassifierImpl : public torch::nn::Module {
 public:
  /// A freshly initialised classifier (encoder as VisionTransformer, head as above); draws from
  /// torch's global generator, so seed it first for a reproducible start.
  explicit VitClassifierImpl(const ClassifierConfig& config);

  /// images [B, C, S, S] -> logits [B, num_classes].
  torch::Tensor forward(const torch::Tensor& images);

  /// Copies every parameter and buffer of `pretrained` (same encoder shape) into the encoder.
  void load_encoder(VisionTransformer& pretrained);

  VisionTransformer& encoder() { return encoder_; }
  const ClassifierConfig& config() const { return config_; }

 private:
  ClassifierConfig config_;
  VisionTransformer encoder_{nullptr};
  torch::nn::LayerNorm fc_norm_{nullptr};  ///< avg pooling only
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(VitClassifier);

}  // namespace clustermim
