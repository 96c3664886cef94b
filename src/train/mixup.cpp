/*
 * Mixup / CutMix and the soft-target cross-entropy (see mixup.h).
 */
#include "train/mixup.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/random_draws.h"

namespace clustermim {
namespace {

constexpr uint64_t kMixupStream = 0x6d697875702d3031ULL;  // "mixup-01"

uint64_t mix(uint64_t a, uint64_t b) { return Rng(a ^ Rng(b)())(); }

}  // namespace

void validate(const MixupOptions& o) {
  CM_REQUIRE(o.mixup_alpha >= 0 && o.cutmix_alpha >= 0, "mixup: alphas (", o.mixup_alpha, ", ",
             o.cutmix_alpha, ") must be >= 0");
  CM_REQUIRE(o.prob >= 0 && o.prob <= 1, "mixup: prob ", o.prob, " must be in [0, 1]");
  CM_REQUIRE(o.switch_prob >= 0 && o.switch_prob <= 1, "mixup: switch_prob ", o.switch_prob,
             " must be in [0, 1]");
  CM_REQUIRE(o.label_smoothing >= 0 && o.label_smoothing < 1, "mixup: label_smoothing ",
             o.label_smoothing, " must be in [0, 1)");
}

torch::Tensor smooth_one_hot(const torch::Tensor& labels, int64_t classes, double smoothing) {
  CM_REQUIRE(labels.dim() == 1 && labels.scalar_type() == torch::kInt64,
             "mixup: labels must be a 1-D int64 tensor");
  CM_REQUIRE(classes > 0, "mixup: classes ", classes, " must be > 0");
  if (labels.numel() > 0)
    CM_REQUIRE(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < classes,
               "mixup: labels must be in [0, ", classes, ")");
  const double off = smoothing / static_cast<double>(classes);
  const double on = 1.0 - smoothing + off;
  auto targets = torch::full({labels.size(0), classes}, off,
                             torch::TensorOptions().dtype(torch::kFloat32).device(labels.device()));
  return targets.scatter_(1, labels.view({-1, 1}), on);
}

MixedBatch mix_batch(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes,
                     const MixupOptions& options, uint64_t seed, int64_t step) {
  validate(options);
  CM_REQUIRE(images.dim() == 4, "mixup: images must be [B, C, H, W]");
  CM_REQUIRE(labels.dim() == 1 && labels.size(0) == images.size(0),
             "mixup: labels must be [B] for images of batch ", images.size(0));
  MixedBatch out;
  Rng rng(mix(mix(seed, kMixupStream), static_cast<uint64_t>(step)));
  const bool any = options.mixup_alpha > 0 || options.cutmix_alpha > 0;
  if (any && uniform01(rng) < options.prob) {
    if (options.mixup_alpha > 0 && options.cutmix_alpha > 0)
      out.cutmix = uniform01(rng) < options.switch_prob;
    else
      out.cutmix = options.cutmix_alpha > 0;
    const double alpha = out.cutmix ? options.cutmix_alpha : options.mixup_alpha;
    out.lam = beta_draw(rng, alpha, alpha);
  }
  if (out.lam == 1.0) {
    out.cutmix = false;
    out.images = images.clone();
  } else if (out.cutmix) {
    const int64_t h = images.size(2), w = images.size(3);
    const double ratio = std::sqrt(1.0 - out.lam);
    const int64_t cut_h = static_cast<int64_t>(h * ratio), cut_w = static_cast<int64_t>(w * ratio);
    const int64_t cy = uniform_int(rng, 0, h - 1), cx = uniform_int(rng, 0, w - 1);
    out.top = std::clamp<int64_t>(cy - cut_h / 2, 0, h);
    out.bottom = std::clamp<int64_t>(cy + cut_h / 2, 0, h);
    out.left = std::clamp<int64_t>(cx - cut_w / 2, 0, w);
    out.right = std::clamp<int64_t>(cx + cut_w / 2, 0, w);
    out.lam = 1.0 - static_cast<double>((out.bottom - out.top) * (out.right - out.left)) /
                        static_cast<double>(h * w);
    out.images = images.clone();
    using torch::indexing::Slice;
    const std::vector<torch::indexing::TensorIndex> box{
        Slice(), Slice(), Slice(out.top, out.bottom), Slice(out.left, out.right)};
    out.images.index_put_(box, images.flip(0).index(box));
  } else {
    out.images = images * out.lam + images.flip(0) * (1.0 - out.lam);
  }
  const auto smooth = smooth_one_hot(labels, classes, options.label_smoothing);
  out.targets = smooth * out.lam + smooth.flip(0) * (1.0 - out.lam);
  return out;
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  CM_REQUIRE(logits.dim() == 2 && targets.sizes() == logits.sizes(),
             "soft_target_cross_entropy: logits and targets must both be [B, C]");
  return (-targets.to(torch::kFloat32) * torch::log_softmax(logits.to(torch::kFloat32), -1))
      .sum(-1)
      .mean();
}

}  // namespace clustermim
