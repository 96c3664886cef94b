/*
 * Layer-wise lr decay groups (see layer_decay.h).
 */
#include "train/layer_decay.h"

#include <cmath>

#include "core/error.h"

namespace clustermim {

namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

int64_t vit_layer_id(const std::string& full_name, int64_t depth) {
  const std::string name = starts_with(full_name, "encoder.") ? full_name.substr(8) : full_name;
  if (name == "cls_token" || name == "pos_embed" || starts_with(name, "patch_embed.")) return 0;
  if (starts_with(name, "blocks.")) {
    const size_t dot = name.find('.', 7);
    const int64_t block = std::stoll(name.substr(7, dot - 7));
    CM_CHECK(block >= 0 && block < depth, "parameter ", full_name, " outside ", depth, " blocks");
    return block + 1;
  }
  return depth + 1;
}

std::vector<AdamWParam> param_groups_lrd(torch::nn::Module& model, int64_t depth,
                                         double layer_decay) {
  CM_REQUIRE(layer_decay > 0 && layer_decay <= 1, "layer_decay must be in (0, 1], got ",
             layer_decay);
  std::vector<AdamWParam> params;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& p = item.value();
    if (!p.requires_grad()) continue;
    const std::string& name = item.key();
    const int64_t layer = vit_layer_id(name, depth);
    const std::string local = starts_with(name, "encoder.") ? name.substr(8) : name;
    AdamWParam q;
    q.name = name;
    q.value = p;
    q.decay = p.dim() > 1 && local != "pos_embed" && local != "cls_token";
    q.lr_scale = std::pow(layer_decay, static_cast<double>(depth + 1 - layer));
    params.push_back(q);
  }
  return params;
}

}  // namespace clustermim
