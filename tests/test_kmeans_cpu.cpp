/*
 * The CPU passes of Lloyd's iteration: the fused nearest-centroid kernel agrees with a
 * double-precision brute force at every register-block shape (tail points, tail centroids,
 * padding), breaks exact ties toward the lowest index, and cluster_sums matches index_add_.
 */
#include <gtest/gtest.h>

#include "tokenizers/kmeans_cpu.h"

namespace clustermim {
namespace {

/// index [N] and distance [N] from the fused kernel.
std::pair<torch::Tensor, torch::Tensor> run_fused(const torch::Tensor& x, const torch::Tensor& c) {
  torch::Tensor index = torch::empty({x.size(0)}, torch::kLong);
  torch::Tensor distance = torch::empty({x.size(0)});
  nearest_centroid_fused(x, x.square().sum(1), c, index, distance);
  return {index, distance};
}

TEST(KMeansCpu, FusedNearestMatchesBruteForceAtEveryBlockShape) {
  if (!fused_nearest_available()) GTEST_SKIP() << "this CPU has no AVX-512F";
  torch::manual_seed(4);
  // 1003 points: 250 blocks of 4 and 3 tail points. K covers a single padded vector (1, 5),
  // whole vectors (16), 64-centroid blocks with and without a tail (64, 70, 256).
  for (int64_t k : {1, 5, 16, 64, 70, 256}) {
    const torch::Tensor x = torch::randn({1003, 48});
    const torch::Tensor c = torch::randn({k, 48});
    const auto [index, distance] = run_fused(x, c);
    const torch::Tensor exact = torch::cdist(x.to(torch::kFloat64), c.to(torch::kFloat64)).square();
    const torch::Tensor truth = exact.argmin(1);
    EXPECT_TRUE(torch::equal(index, truth)) << "K = " << k << ": "
                                             << (index != truth).sum().item<int64_t>()
                                             << " points differ";
    const torch::Tensor best = std::get<0>(exact.min(1)).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(distance, best, 1e-4, 1e-3)) << "K = " << k;
  }
}

TEST(KMeansCpu, FusedNearestBreaksTiesTowardTheLowestIndex) {
  if (!fused_nearest_available()) GTEST_SKIP() << "this CPU has no AVX-512F";
  // Centroids 3, 19, 21 and 40 are the same point and the nearest to every x: the kernel must
  // answer 3 whichever lane and register block holds each copy.
  torch::manual_seed(5);
  torch::Tensor c = torch::randn({48, 8}) * 100;
  const torch::Tensor shared = torch::zeros({8});
  for (int64_t i : {40, 21, 19, 3}) c[i] = shared;
  const torch::Tensor x = torch::randn({9, 8}) * 0.1;
  const auto [index, distance] = run_fused(x, c);
  EXPECT_TRUE(torch::equal(index, torch::full({9}, 3, torch::kLong))) << index;
}

TEST(KMeansCpu, ClusterSumsMatchIndexAdd) {
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({20000, 12});
  const torch::Tensor index = torch::randint(0, 37, {20000}, torch::kLong);
  const torch::Tensor expected = torch::zeros({37, 12}).index_add_(0, index, x);
  EXPECT_TRUE(torch::allclose(cluster_sums(x, index, 37), expected, 1e-4, 1e-3));
}

}  // namespace
}  // namespace clustermim
