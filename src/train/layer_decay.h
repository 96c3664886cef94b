/*
 * Layer-wise learning-rate decay for fine-tuning a ViT (MAE's util/lr_decay.py, after BEiT).
 *
 * Layers closer to the input move less: with a network of `depth` blocks, the embeddings
 * (cls_token, pos_embed, patch_embed.*) are layer 0, block i (0-based) is layer i + 1 and
 * everything after the blocks (the final norm or fc_norm, the head) is layer depth + 1. A layer
 * steps with lr * decay^(depth + 1 - layer), so the head gets the base lr and the embeddings
 * decay^(depth + 1). Weight decay applies to every parameter except the 1-D ones (norms,
 * biases), pos_embed and cls_token. The result feeds AdamW's per-parameter constructor.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "train/adamw.h"

namespace clustermim {

/// MAE's get_layer_id_for_vit: the layer of parameter `name` (timm names, optionally under an
/// "encoder." prefix) in a ViT of `depth` blocks, in [0, depth + 1].
int64_t vit_layer_id(const std::string& name, int64_t depth);

/// The trainable parameters of `model` (requires_grad) in named_parameters order, each with
/// MAE's weight-decay rule (`decay`) and lr_scale = layer_decay^(depth + 1 - vit_layer_id);
/// moments empty (AdamW's constructor makes them). Error unless 0 < layer_decay <= 1.
std::vector<AdamWParam> param_groups_lrd(torch::nn::Module& model, int64_t depth,
                                         double layer_decay);

}  // namespace clustermim
