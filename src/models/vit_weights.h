/*
 * Encoder weights in and out of the PyTorch ecosystem, and loading a ViT as a teacher.
 *
 * Export writes the encoder's state dict as safetensors with timm VisionTransformer names and
 * shapes (cls_token, pos_embed, patch_embed.proj.*, blocks.N.*, norm.*; float32), so that
 * `timm.create_model(name, num_classes=0)` loads it with strict=True. Import reads such a file
 * from any source (a DINO or DeiT ViT a user downloaded, or our own export), in any float dtype,
 * checking every name and shape; the geometry comes from the shapes (patch size from
 * patch_embed.proj.weight, grid from pos_embed, depth from the block indices), heads from our
 * metadata or the ViT convention D / 64. A classifier `head.*` is ignored.
 *
 * load_encoder turns either such a file or a clustermim checkpoint (.cmck, read through
 * models/checkpoint_file.h) into a frozen encoder ready for features: the teacher of a feature
 * tokenizer, or a pretrained encoder to evaluate.
 */
#pragma once

#include <string>

#include "data/dataset.h"
#include "io/safetensors.h"
#include "models/vit.h"

namespace clustermim {

/// A frozen encoder (eval mode, no gradients) and the input normalization it was trained with.
struct FrozenEncoder {
  VisionTransformer encoder{nullptr};
  ChannelStats stats;   ///< per-channel mean/std its inputs must carry
  std::string source;   ///< the file it came from
};

/// ImageNet mean/std, timm's default for ViTs (used when a file does not say).
ChannelStats imagenet_stats();

/// The encoder's parameters with timm names, float32 on the CPU ([1, 1+L, D] pos_embed, ...).
std::vector<TensorRecord> encoder_records(VisionTransformer& encoder);

/// Writes `encoder` as safetensors (timm names; metadata: format "pt", our VitConfig and
/// `stats` as JSON strings). Atomic.
void save_encoder_safetensors(VisionTransformer& encoder, const ChannelStats& stats,
                              const std::string& path);

/// The VitConfig a timm-named state dict describes. `heads` > 0 overrides the metadata / D/64.
VitConfig infer_vit_config(const SafetensorsFile& file, int64_t heads = 0);

/// Copies timm-named weights from `file` into `encoder`; Error naming the file and tensor on a
/// missing, unexpected or misshapen tensor. pos_embed of another grid size is resampled
/// (bicubic, as timm's resample_abs_pos_embed).
void load_encoder_weights(const SafetensorsFile& file, VisionTransformer& encoder);

/// A frozen encoder of `config` with `weights` (timm names, as load_encoder_weights takes them).
FrozenEncoder frozen_encoder(const VitConfig& config, const SafetensorsFile& weights,
                             const ChannelStats& stats, const std::string& source);

/// Loads a frozen encoder, on the CPU, from a .safetensors file or a clustermim checkpoint (any
/// other extension). `grid` > 0 builds it for a grid x grid patch layout (input grid * patch
/// pixels; pos_embed resampled) so that its tokens line up with a student's patches; `heads` as
/// in infer_vit_config. Error naming the file on any problem.
FrozenEncoder load_encoder(const std::string& path, int64_t grid = 0, int64_t heads = 0);

}  // namespace clustermim
