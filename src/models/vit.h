/*
 * The ViT encoder of ClusterMIM / MAE: patch embedding, fixed 2-D sin-cos position embedding,
 * pre-norm transformer blocks and a final LayerNorm.
 *
 * Parameter names and shapes follow timm's VisionTransformer (and MAE's encoder) exactly, so an
 * exported state dict loads into `timm.create_model(..., num_classes=0)` unchanged:
 *   cls_token [1, 1, D], pos_embed [1, 1+L, D], patch_embed.proj.{weight [D, C, p, p], bias},
 *   blocks.N.{norm1, attn.qkv [3D, D], attn.proj, norm2, mlp.fc1 [hD, D], mlp.fc2}, norm.
 * As in MAE, pos_embed is a *frozen parameter* (requires_grad = false) holding the sin-cos table,
 * not a buffer: it then appears in named_parameters() under timm's name. Optimizers must skip
 * parameters that do not require grad. Initialisation follows MAE (see VisionTransformerImpl).
 * Stochastic depth (timm's drop_path_rate) is a training setting of the config: it has no
 * parameters, so it does not change the state dict.
 */
#pragma once

#include <cstdint>
#include <vector>

#include "backend/torch_pch.h"

namespace clustermim {

/// Shape of a ViT encoder. Defaults: the 32-px CIFAR preset (patch 4, 192-d x 12, 3 heads).
struct VitConfig {
  int64_t image_size = 32;  ///< square input side in pixels
  int64_t patch_size = 4;   ///< square patch side; image_size must be a multiple
  int64_t in_chans = 3;     ///< input channels
  int64_t dim = 192;        ///< embedding width D (multiple of heads and of 4)
  int64_t depth = 12;       ///< number of blocks
  int64_t heads = 3;        ///< attention heads
  double mlp_ratio = 4.0;   ///< MLP hidden width = int(D * mlp_ratio) (timm)
  /// Stochastic depth rate in [0, 1) (timm's drop_path_rate; 0 = off). Block i of `depth`
  /// drops its residual branches at rate drop_path * i / (depth - 1), timm's linspace. A
  /// training setting, not part of the shape: to_json / vit_config_from_json leave it out.
  double drop_path = 0.0;
};

/// Throws clustermim::Error unless the config describes a buildable encoder.
void validate_vit_config(const VitConfig& config);

/// MAE's get_2d_sincos_pos_embed: [grid*grid (+1 zero row first when cls), dim] float32.
/// Row g*grid + x is the patch at grid row g, column x; its first dim/2 entries encode x, the
/// last dim/2 encode g, each as [sin(pos * omega), cos(pos * omega)] with
/// omega_i = 1 / 10000^(i / (dim/4)). dim must be a multiple of 4.
torch::Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid, bool cls);

/// `layer` applied as one at::linear: autocast casts input, weight and bias together and a 3-D
/// input runs as a single addmm. (torch::nn::Linear::forward in LibTorch 1.13 is matmul, then
/// `+= bias`: under bf16 autocast that adds an fp32 bias to a bf16 output through two full
/// copies of the activations, ~15 % of a vit-tiny-32 step.) Shapes: x [..., in] -> [..., out].
inline torch::Tensor apply_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return torch::linear(x, layer->weight, layer->bias);
}

/// Multi-head self-attention with a fused qkv projection (timm `Attention`, qkv_bias = true).
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t dim, int64_t heads);
  /// x [B, N, D] -> [B, N, D].
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  double scale_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Attention);

/// Two-layer MLP with exact (erf) GELU (timm `Mlp`: fc1, fc2).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t dim, int64_t hidden);
  /// x [..., D] -> [..., D].
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Mlp);

/// Stochastic depth (timm `drop_path`): when `training` and rate > 0, each sample of x [B, ...]
/// is zeroed with probability `rate` (one Bernoulli draw per sample, on x's device from its
/// default generator) and the kept samples are scaled by 1 / (1 - rate); otherwise x itself.
/// Requires 0 <= rate < 1.
torch::Tensor drop_path(const torch::Tensor& x, double rate, bool training);

/// Per-block stochastic depth rates: rate * i / (depth - 1) for i in [0, depth) (torch.linspace
/// as timm builds them; [0] for depth 1).
std::vector<double> drop_path_rates(double rate, int64_t depth);

/// Pre-norm transformer block: x + drop_path(attn(norm1(x))), then x + drop_path(mlp(norm2(x))).
/// LayerNorm eps 1e-6. Drop path acts only in training mode (is_training()).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t dim, int64_t heads, double mlp_ratio, double drop_path = 0.0);
  /// x [B, N, D] -> [B, N, D].
  torch::Tensor forward(const torch::Tensor& x);
  /// This block's stochastic depth rate.
  double drop_path_rate() const { return drop_path_; }

 private:
  double drop_path_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  Attention attn_{nullptr};
  Mlp mlp_{nullptr};
};
TORCH_MODULE(Block);

/// Conv2d patch embedding (timm `PatchEmbed`: proj, kernel = stride = p).
class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch);
  /// images [B, C, H, W] -> [B, L, D], patches row-major (same order as patchify).
  torch::Tensor forward(const torch::Tensor& images);
  /// The convolution (its weight is re-initialised by the owner).
  torch::nn::Conv2d& proj() { return proj_; }

 private:
  torch::nn::Conv2d proj_{nullptr};
};
TORCH_MODULE(PatchEmbed);

/// Applies MAE's init to every Linear / LayerNorm below `module`: xavier-uniform weights, zero
/// biases; LayerNorm weight 1, bias 0.
void init_linear_and_norm(torch::nn::Module& module);

/// The ViT encoder (timm VisionTransformer without head, global_pool = token).
///
/// Init (MAE): sin-cos pos_embed (frozen), patch_embed.proj.weight xavier-uniform on its
/// [D, C*p*p] view (its bias keeps PyTorch's default Conv2d init, as in MAE), cls_token
/// N(0, 0.02), then init_linear_and_norm.
class VisionTransformerImpl : public torch::nn::Module {
 public:
  explicit VisionTransformerImpl(const VitConfig& config);

  /// images [B, C, H, W] -> [B, 1+L, D] after the final norm (CLS first, all patches).
  torch::Tensor forward_features(const torch::Tensor& images);

  /// Encodes only the kept patches (MAE): patch embeddings plus their position embedding are
  /// gathered with ids_keep [B, Lk] before the blocks. -> [B, 1+Lk, D] after the final norm,
  /// row 1+j is patch ids_keep[b][j].
  torch::Tensor forward_visible(const torch::Tensor& images, const torch::Tensor& ids_keep);

  /// All patches; output [B, 1+L, D] of block `block` (0-based, before the final norm), or after
  /// the final norm when block == -1 (then equal to forward_features).
  torch::Tensor forward_block_features(const torch::Tensor& images, int64_t block);

  /// L = (image_size / patch_size)^2.
  int64_t num_patches() const { return num_patches_; }
  const VitConfig& config() const { return config_; }

 private:
  /// images -> [B, L, D] patch embeddings plus position embedding (no CLS).
  torch::Tensor embed_patches(const torch::Tensor& images);
  /// tokens [B, N, D] -> [B, 1+N, D] with cls_token + pos_embed[0] in front.
  torch::Tensor prepend_cls(const torch::Tensor& tokens);
  /// Runs blocks 0..last on x [B, N, D]; last == -1 runs all blocks and the final norm.
  torch::Tensor run_blocks(torch::Tensor x, int64_t last);

  VitConfig config_;
  int64_t num_patches_;
  torch::Tensor cls_token_, pos_embed_;
  PatchEmbed patch_embed_{nullptr};
  torch::nn::ModuleList blocks_;
  torch::nn::LayerNorm norm_{nullptr};
};
TORCH_MODULE(VisionTransformer);

}  // namespace clustermim
