/*
 * patchify follows MAE's order exactly (checked against an explicit loop), unpatchify inverts it,
 * and per-patch normalization gives zero mean / unit (unbiased) variance.
 */
#include <gtest/gtest.h>

#include "models/patchify.h"

namespace clustermim {
namespace {

TEST(Patchify, MatchesMaeOrder) {
  const int64_t b = 2, c = 3, s = 8, p = 4, g = s / p;
  const torch::Tensor x = torch::arange(b * c * s * s, torch::kFloat32).reshape({b, c, s, s});
  const torch::Tensor v = patchify(x, p);
  ASSERT_EQ(v.sizes(), (std::vector<int64_t>{b, g * g, p * p * c}));
  auto xa = x.accessor<float, 4>();
  auto va = v.accessor<float, 3>();
  for (int64_t n = 0; n < b; ++n)
    for (int64_t gy = 0; gy < g; ++gy)
      for (int64_t gx = 0; gx < g; ++gx)
        for (int64_t py = 0; py < p; ++py)
          for (int64_t px = 0; px < p; ++px)
            for (int64_t ch = 0; ch < c; ++ch)
              ASSERT_EQ(va[n][gy * g + gx][(py * p + px) * c + ch],
                        xa[n][ch][gy * p + py][gx * p + px]);
}

TEST(Patchify, UnpatchifyInverts) {
  const torch::Tensor x = torch::randn({3, 3, 12, 12});
  EXPECT_TRUE(torch::equal(unpatchify(patchify(x, 4), 4, 3), x));
}

TEST(Patchify, RejectsSizesNotMultipleOfPatch) {
  EXPECT_THROW(patchify(torch::zeros({1, 3, 10, 10}), 4), std::exception);
}

TEST(Patchify, NormalizePatches) {
  const torch::Tensor v = normalize_patches(torch::randn({2, 5, 48}) * 3 + 1);
  EXPECT_LT(v.mean(-1).abs().max().item<float>(), 1e-5);
  EXPECT_NEAR(v.var(-1).mean().item<float>(), 1.0, 1e-4);
}

}  // namespace
}  // namespace clustermim
