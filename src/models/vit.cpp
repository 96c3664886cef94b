/*
 * ViT encoder with timm parameter names and MAE initialisation (see vit.h).
 *
 * Attention uses at::scaled_dot_product_attention under LibTorch 2.x (fused kernels on CUDA) and
 * the explicit softmax(q k^T * scale) v under 1.13, which has no public fused attention.
 */
#include "models/vit.h"

#include <cmath>

#include "backend/torch_compat.h"
#include "core/error.h"

namespace clustermim {

void validate_vit_config(const VitConfig& c) {
  CM_REQUIRE(c.image_size > 0 && c.patch_size > 0 && c.in_chans > 0 && c.dim > 0 && c.depth > 0 &&
                 c.heads > 0,
             "encoder: image_size, patch_size, in_chans, dim, depth and heads must be positive");
  CM_REQUIRE(c.image_size % c.patch_size == 0, "encoder: image_size ", c.image_size,
             " is not a multiple of patch_size ", c.patch_size);
  CM_REQUIRE(c.dim % c.heads == 0, "encoder: dim ", c.dim, " is not a multiple of heads ", c.heads);
  CM_REQUIRE(c.dim % 4 == 0, "encoder: dim ", c.dim,
             " must be a multiple of 4 (2-D sin-cos position embedding)");
  CM_REQUIRE(c.mlp_ratio > 0, "encoder: mlp_ratio must be positive, got ", c.mlp_ratio);
  CM_REQUIRE(c.drop_path >= 0 && c.drop_path < 1, "encoder: drop_path must be in [0, 1), got ",
             c.drop_path);
}

torch::Tensor sincos_pos_embed_2d(int64_t dim, int64_t grid, bool cls) {
  CM_CHECK(dim % 4 == 0 && grid > 0, "dim ", dim, " grid ", grid);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t quarter = dim / 4;
  const torch::Tensor omega = 1.0 / torch::pow(10000.0, torch::arange(quarter, f64) / quarter);
  const torch::Tensor coord = torch::arange(grid, f64);
  // np.meshgrid(grid_w, grid_h) flattened row-major: entry g*grid + x has column x, row g.
  const torch::Tensor cols = coord.repeat({grid});
  const torch::Tensor rows = coord.repeat_interleave(grid);
  auto embed_1d = [&](const torch::Tensor& pos) {
    const torch::Tensor out = torch::outer(pos, omega);
    return torch::cat({out.sin(), out.cos()}, 1);
  };
  torch::Tensor table = torch::cat({embed_1d(cols), embed_1d(rows)}, 1).to(torch::kFloat32);
  if (cls) table = torch::cat({torch::zeros({1, dim}), table}, 0);
  return table;
}

AttentionImpl::AttentionImpl(int64_t dim, int64_t heads)
    : heads_(heads), scale_(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
  qkv_ = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  proj_ = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), n = x.size(1), d = x.size(2);
  // unbind, not qkv[0..2]: its backward stacks the three gradients once, where each select's
  // backward zero-fills a full qkv-sized gradient and autograd adds the three together.
  const std::vector<torch::Tensor> qkv =
      apply_linear(qkv_, x).reshape({b, n, 3, heads_, d / heads_}).permute({2, 0, 3, 1, 4}).unbind(0);
  const torch::Tensor &q = qkv[0], &k = qkv[1], &v = qkv[2];  // [B, H, N, hd]
#if CLUSTERMIM_TORCH2
  const torch::Tensor out = at::scaled_dot_product_attention(q, k, v);
#else
  const torch::Tensor out = torch::matmul(q * scale_, k.transpose(-2, -1)).softmax(-1).matmul(v);
#endif
  return apply_linear(proj_, out.transpose(1, 2).reshape({b, n, d}));
}

MlpImpl::MlpImpl(int64_t dim, int64_t hidden) {
  fc1_ = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return apply_linear(fc2_, torch::gelu(apply_linear(fc1_, x)));
}

namespace {
torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6));
}
}  // namespace

torch::Tensor drop_path(const torch::Tensor& x, double rate, bool training) {
  CM_REQUIRE(rate >= 0 && rate < 1, "drop_path: rate must be in [0, 1), got ", rate);
  if (!training || rate == 0) return x;
  const double keep = 1.0 - rate;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  const torch::Tensor kept = torch::empty(shape, x.options()).bernoulli_(keep).div_(keep);
  return x * kept;
}

std::vector<double> drop_path_rates(double rate, int64_t depth) {
  std::vector<double> rates(static_cast<size_t>(depth), 0.0);
  for (int64_t i = 1; i < depth; ++i)
    rates[static_cast<size_t>(i)] = rate * static_cast<double>(i) / static_cast<double>(depth - 1);
  return rates;
}

BlockImpl::BlockImpl(int64_t dim, int64_t heads, double mlp_ratio, double drop_path)
    : drop_path_(drop_path) {
  norm1_ = register_module("norm1", layer_norm(dim));
  attn_ = register_module("attn", Attention(dim, heads));
  norm2_ = register_module("norm2", layer_norm(dim));
  mlp_ = register_module("mlp", Mlp(dim, static_cast<int64_t>(dim * mlp_ratio)));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x) {
  const bool train = is_training();
  const torch::Tensor y = x + drop_path(attn_(norm1_(x)), drop_path_, train);
  return y + drop_path(mlp_(norm2_(y)), drop_path_, train);
}

PatchEmbedImpl::PatchEmbedImpl(int64_t in_chans, int64_t dim, int64_t patch) {
  proj_ = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_chans, dim, patch).stride(patch)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& images) {
  return proj_(images).flatten(2).transpose(1, 2);
}

void init_linear_and_norm(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto init_one = [](torch::nn::Module& m) {
    if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      torch::nn::init::xavier_uniform_(linear->weight);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* norm = dynamic_cast<torch::nn::LayerNormImpl*>(&m)) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  };
  // include_self = false: `module` may be under construction, not yet owned by a shared_ptr.
  init_one(module);
  for (const auto& child : module.modules(/*include_self=*/false)) init_one(*child);
}

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& config) : config_(config) {
  validate_vit_config(config_);
  const int64_t grid = config_.image_size / config_.patch_size, d = config_.dim;
  num_patches_ = grid * grid;
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, d}));
  pos_embed_ = register_parameter("pos_embed", sincos_pos_embed_2d(d, grid, true).unsqueeze(0),
                                  /*requires_grad=*/false);
  patch_embed_ =
      register_module("patch_embed", PatchEmbed(config_.in_chans, d, config_.patch_size));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (const double rate : drop_path_rates(config_.drop_path, config_.depth))
    blocks_->push_back(Block(d, config_.heads, config_.mlp_ratio, rate));
  norm_ = register_module("norm", layer_norm(d));

  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(patch_embed_->proj()->weight.view({d, -1}));
  torch::nn::init::normal_(cls_token_, 0.0, 0.02);
  init_linear_and_norm(*this);
}

torch::Tensor VisionTransformerImpl::embed_patches(const torch::Tensor& images) {
  CM_REQUIRE(images.dim() == 4 && images.size(1) == config_.in_chans &&
                 images.size(2) == config_.image_size && images.size(3) == config_.image_size,
             "encoder expects images [B, ", config_.in_chans, ", ", config_.image_size, ", ",
             config_.image_size, "], got ", images.sizes());
  return patch_embed_(images) + pos_embed_.slice(1, 1);
}

torch::Tensor VisionTransformerImpl::prepend_cls(const torch::Tensor& tokens) {
  const torch::Tensor cls =
      (cls_token_ + pos_embed_.slice(1, 0, 1)).expand({tokens.size(0), -1, -1});
  return torch::cat({cls, tokens}, 1);
}

torch::Tensor VisionTransformerImpl::run_blocks(torch::Tensor x, int64_t last) {
  const int64_t stop = last == -1 ? config_.depth - 1 : last;
  for (int64_t i = 0; i <= stop; ++i) x = blocks_[i]->as<Block>()->forward(x);
  return last == -1 ? norm_(x) : x;
}

torch::Tensor VisionTransformerImpl::forward_features(const torch::Tensor& images) {
  return run_blocks(prepend_cls(embed_patches(images)), -1);
}

torch::Tensor VisionTransformerImpl::forward_visible(const torch::Tensor& images,
                                                     const torch::Tensor& ids_keep) {
  CM_CHECK(ids_keep.dim() == 2 && ids_keep.size(0) == images.size(0), "ids_keep must be [B, Lk]");
  const torch::Tensor x = embed_patches(images);
  const torch::Tensor kept = x.gather(1, ids_keep.unsqueeze(-1).expand({-1, -1, x.size(2)}));
  return run_blocks(prepend_cls(kept), -1);
}

torch::Tensor VisionTransformerImpl::forward_block_features(const torch::Tensor& images,
                                                            int64_t block) {
  CM_REQUIRE(block == -1 || (block >= 0 && block < config_.depth), "block ", block,
             " out of range: the encoder has ", config_.depth,
             " blocks (use -1 for the final norm)");
  return run_blocks(prepend_cls(embed_patches(images)), block);
}

}  // namespace clustermim
