/*
 * Comparing two trained copies of one network parameter by parameter, as the tests of
 * gradient accumulation and data-parallel training need it.
 */
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "backend/torch_pch.h"

namespace clustermim::testing {

/// Expects every parameter of `a` equal to the one of the same name in `b` within `rtol` /
/// `atol`. The key part of every qkv bias is left out: softmax ignores a shift of all keys, so
/// its gradient is rounding noise alone, which AdamW's normalization turns into steps of the
/// size of the lr.
inline void expect_same_weights(torch::nn::Module& a, torch::nn::Module& b, const std::string& what,
                                double rtol, double atol) {
  const auto others = b.named_parameters();
  for (const auto& p : a.named_parameters()) {
    torch::Tensor mine = p.value(), other = others[p.key()];
    if (p.key().find("qkv.bias") != std::string::npos) {
      const int64_t dim = mine.size(0) / 3;
      mine = torch::cat({mine.narrow(0, 0, dim), mine.narrow(0, 2 * dim, dim)});
      other = torch::cat({other.narrow(0, 0, dim), other.narrow(0, 2 * dim, dim)});
    }
    EXPECT_TRUE(torch::allclose(mine, other, rtol, atol))
        << what << ": " << p.key() << " max diff " << (mine - other).abs().max().item<double>();
  }
}

}  // namespace clustermim::testing
