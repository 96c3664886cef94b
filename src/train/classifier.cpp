/*
 * ViT + classification head for fine-tuning (see classifier.h).
 */
#include "train/classifier.h"

#include "core/error.h"
#include "models/mim.h"

namespace clustermim {

void validate_classifier_config(const ClassifierConfig& c) {
  validate_vit_config(c.encoder);
  CM_REQUIRE(c.num_classes >= 1, "classifier: need at least one class, got ", c.num_classes);
  CM_REQUIRE(c.pooling == "avg" || c.pooling == "cls", "classifier: unknown pooling '", c.pooling,
             "' (expected avg or cls)");
}

nlohmann::json to_json(const ClassifierConfig& c) {
  return {{"encoder", to_json(c.encoder)}, {"drop_path", c.encoder.drop_path},
          {"num_classes", c.num_classes}, {"pooling", c.pooling}};
}

VitClassifierImpl::VitClassifierImpl(const ClassifierConfig& config) : config_(config) {
  validate_classifier_config(config_);
  const int64_t d = config_.encoder.dim;
  encoder_ = register_module("encoder", VisionTransformer(config_.encoder));
  for (auto& item : encoder_->named_parameters()) {
    if (item.key() == "pos_embed") item.value().set_requires_grad(true);
    if (config_.pooling == "avg" && item.key().rfind("norm.", 0) == 0) {
      item.value().set_requires_grad(false);
    }
  }
  if (config_.pooling == "avg") {
    fc_norm_ = register_module("fc_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-6)));
  }
  head_ = register_module("head", torch::nn::Linear(d, config_.num_classes));
  torch::NoGradGuard no_grad;
  head_->weight.normal_(0.0, 2e-5).clamp_(-2.0, 2.0);
  head_->bias.zero_();
}

torch::Tensor VitClassifierImpl::forward(const torch::Tensor& images) {
  if (config_.pooling == "cls") {
    return apply_linear(head_, encoder_->forward_features(images).select(1, 0));
  }
  const torch::Tensor tokens =
      encoder_->forward_block_features(images, config_.encoder.depth - 1);
  return apply_linear(head_, fc_norm_(tokens.slice(1, 1).mean(1)));
}

void VitClassifierImpl::load_encoder(VisionTransformer& pretrained) {
  torch::NoGradGuard no_grad;
  auto copy_all = [](torch::OrderedDict<std::string, torch::Tensor> into,
                     const torch::OrderedDict<std::string, torch::Tensor>& from) {
    for (auto& item : into) {
      const torch::Tensor* source = from.find(item.key());
      CM_REQUIRE(source != nullptr && source->sizes() == item.value().sizes(),
                 "classifier: the pretrained encoder has no tensor '", item.key(), "' of shape ",
                 item.value().sizes());
      item.value().copy_(*source);
    }
  };
  copy_all(encoder_->named_parameters(), pretrained->named_parameters());
  copy_all(encoder_->named_buffers(), pretrained->named_buffers());
}

int64_t count_topk_hits(const torch::Tensor& scores, const torch::Tensor& labels, int64_t k) {
  const torch::Tensor top = std::get<1>(scores.topk(std::min(k, scores.size(1)), 1));
  return top.eq(labels.unsqueeze(1)).any(1).sum().item<int64_t>();
}

}  // namespace clustermim
