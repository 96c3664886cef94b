/*
 * MAE patchify order (see patchify.h).
 */
#include "models/patchify.h"

#include <cmath>

#include "core/error.h"

namespace clustermim {

torch::Tensor patchify(const torch::Tensor& images, int64_t patch) {
  CM_CHECK(images.dim() == 4, "images must be [B, C, H, W]");
  const int64_t b = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  CM_REQUIRE(h % patch == 0 && w % patch == 0, "image size ", h, "x", w,
             " is not a multiple of the patch size ", patch);
  const int64_t gh = h / patch, gw = w / patch;
  return images.reshape({b, c, gh, patch, gw, patch})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({b, gh * gw, patch * patch * c});
}

torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels) {
  CM_CHECK(patches.dim() == 3, "patches must be [B, L, p*p*C]");
  const int64_t b = patches.size(0), l = patches.size(1);
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(l))));
  CM_CHECK(g * g == l && patches.size(2) == patch * patch * channels, "not a square patch grid");
  return patches.reshape({b, g, g, patch, patch, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({b, channels, g * patch, g * patch});
}

torch::Tensor normalize_patches(const torch::Tensor& patches, double eps) {
  const torch::Tensor mean = patches.mean(-1, /*keepdim=*/true);
  const torch::Tensor var = patches.var(-1, /*unbiased=*/true, /*keepdim=*/true);
  return (patches - mean) / (var + eps).sqrt();
}

}  // namespace clustermim
