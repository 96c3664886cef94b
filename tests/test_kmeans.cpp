/*
 * K-means: recovers well-separated blobs, k-means++ is deterministic per seed, empty clusters
 * are repaired, and assignment agrees with a brute-force nearest centroid.
 */
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "tokenizers/kmeans.h"

namespace clustermim {
namespace {

/// n points around each of `k` far-apart centres in `dim` dims: points [k*n, D], truth [k*n].
std::pair<torch::Tensor, torch::Tensor> make_blobs(int64_t k, int64_t n, int64_t dim, double spread) {
  torch::manual_seed(7);
  const torch::Tensor centres = torch::randn({k, dim}) * 10;
  const torch::Tensor truth = torch::arange(k).repeat_interleave(n);
  const torch::Tensor points = centres.index_select(0, truth) + spread * torch::randn({k * n, dim});
  return {points, truth};
}

TEST(KMeans, RecoversSeparatedBlobs) {
  auto [points, truth] = make_blobs(8, 200, 16, 0.5);
  KMeansOptions o;
  o.k = 8;
  o.seed = 3;
  const KMeansResult r = fit_kmeans(points, o);
  const torch::Tensor assigned = assign_nearest(points, r.centroids);
  // Every true blob maps to exactly one cluster, and clusters are distinct across blobs.
  std::set<int64_t> used;
  for (int64_t b = 0; b < 8; ++b) {
    const torch::Tensor ids = assigned.slice(0, b * 200, (b + 1) * 200);
    EXPECT_EQ(std::get<0>(torch::_unique(ids)).numel(), 1) << "blob " << b << " split";
    used.insert(ids[0].item<int64_t>());
  }
  EXPECT_EQ(used.size(), 8u);
  EXPECT_NEAR(r.objective.back(), 16 * 0.25, 0.5);  // mean squared spread: D * sigma^2
}

TEST(KMeans, GreedyKMeansPlusPlusAlonePutsOneCentreInEveryBlob) {
  // Wide blobs: many of the 20 candidates per centre fall in blobs that already have one, and
  // only the candidate scoring (lowest total distance) keeps them out.
  auto [points, truth] = make_blobs(8, 200, 16, 3.0);
  KMeansOptions o;
  o.k = 8;
  o.iterations = 0;
  o.init_trials = 20;
  o.seed = 5;
  const torch::Tensor blob_of_centre =
      truth.index_select(0, assign_nearest(fit_kmeans(points, o).centroids, points));
  EXPECT_EQ(std::get<0>(torch::_unique(blob_of_centre)).numel(), 8) << blob_of_centre;
}

TEST(KMeans, ObjectiveNeverIncreases) {
  auto [points, truth] = make_blobs(16, 100, 8, 3.0);
  KMeansOptions o;
  o.k = 24;
  o.tolerance = 0;
  o.iterations = 15;
  const KMeansResult r = fit_kmeans(points, o);
  for (size_t i = 1; i < r.objective.size(); ++i) {
    EXPECT_LE(r.objective[i], r.objective[i - 1] * (1 + 1e-6));
  }
}

TEST(KMeans, SameSeedSameCentroids) {
  auto [points, truth] = make_blobs(4, 100, 4, 2.0);
  KMeansOptions o;
  o.k = 6;
  o.seed = 11;
  EXPECT_TRUE(torch::equal(fit_kmeans(points, o).centroids, fit_kmeans(points, o).centroids));
}

TEST(KMeans, RepairsEmptyClusters) {
  // Two blobs; the warm start puts a third centroid far from every point, so it is empty after
  // the first assignment and must be re-seeded from the points farthest from their centroids.
  torch::manual_seed(2);
  const torch::Tensor points =
      torch::cat({torch::randn({100, 2}), torch::randn({100, 2}) + torch::tensor({20.f, 0.f})});
  KMeansOptions o;
  o.k = 3;
  o.iterations = 10;
  o.initial = torch::tensor({{0.f, 0.f}, {20.f, 0.f}, {1000.f, 1000.f}});
  const KMeansResult r = fit_kmeans(points, o);
  EXPECT_GE(r.empty_repairs, 1);
  const torch::Tensor counts = torch::bincount(assign_nearest(points, r.centroids), {}, 3);
  EXPECT_EQ((counts == 0).sum().item<int64_t>(), 0) << counts;
}

TEST(KMeans, AssignmentMatchesBruteForce) {
  torch::manual_seed(1);
  const torch::Tensor points = torch::randn({1000, 12});
  const torch::Tensor centroids = torch::randn({37, 12});
  const torch::Tensor brute = torch::cdist(points, centroids).argmin(1);
  EXPECT_TRUE(torch::equal(assign_nearest(points, centroids, /*chunk_rows=*/128), brute));
}

TEST(KMeans, SphericalCentroidsHaveUnitNorm) {
  auto [points, truth] = make_blobs(4, 50, 8, 1.0);
  KMeansOptions o;
  o.k = 4;
  o.spherical = true;
  const torch::Tensor norms = fit_kmeans(points, o).centroids.norm(2, 1);
  EXPECT_TRUE(torch::allclose(norms, torch::ones_like(norms), 1e-5, 1e-5));
}

TEST(KMeans, TooFewPointsIsAnError) {
  KMeansOptions o;
  o.k = 10;
  EXPECT_THROW(fit_kmeans(torch::randn({5, 3}), o), Error);
}

}  // namespace
}  // namespace clustermim
