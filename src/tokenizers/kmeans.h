/*
 * K-means (Lloyd's algorithm with greedy k-means++ initialisation) written in LibTorch, so the
 * same code runs on CPU and CUDA.
 *
 * Distances are computed chunk by chunk as ||x||^2 - 2 x C^T + ||c||^2 (one addmm per chunk), so
 * the N x K distance matrix is never formed. On the CPU, kernels of ours take over: a fused
 * nearest-centroid search where the CPU has AVX-512F, and a threaded cluster-sum pass
 * (kmeans_cpu.h). Clusters that end up empty are re-seeded with the
 * points farthest from their centroids, and every repair is counted. The objective reported is
 * the mean squared distance of a point to its centroid (sklearn's inertia / N).
 */
#pragma once

#include <functional>
#include <vector>

#include "backend/torch_pch.h"

namespace clustermim {

/// Parameters of fit_kmeans, with their defaults.
struct KMeansOptions {
  int64_t k = 64;              ///< number of clusters
  int iterations = 30;         ///< maximum Lloyd iterations
  double tolerance = 1e-4;     ///< stop when the objective improves by less than this fraction
  int64_t chunk_rows = 4096;   ///< rows per distance chunk (memory: chunk_rows * k floats)
  int64_t init_trials = 0;     ///< k-means++ candidates per centre; 0 = 2 + ln(k) (sklearn)
  int64_t init_sample = 16384; ///< k-means++ runs on this many sampled points (>= k); 0 = all
  bool spherical = false;      ///< L2-normalise points and centroids (cosine K-means)
  uint64_t seed = 0;           ///< initialisation seed
  torch::Tensor initial;       ///< [K, D] starting centroids (warm start); undefined = k-means++
};

/// What fit_kmeans returns.
struct KMeansResult {
  torch::Tensor centroids;          ///< [K, D] float32, on the input's device
  std::vector<double> objective;    ///< mean squared distance after each iteration
  int64_t empty_repairs = 0;        ///< clusters re-seeded because they were empty
  int iterations = 0;               ///< Lloyd iterations run
  double seconds = 0;               ///< wall time of the fit
};

/// Called after every iteration with (iteration, objective, empty clusters repaired).
using KMeansProgress = std::function<void(int, double, int64_t)>;

/// Fits K-means to `points` [N, D] (float, any device). Requires N >= k.
KMeansResult fit_kmeans(const torch::Tensor& points, const KMeansOptions& options,
                        const KMeansProgress& progress = nullptr);

/// Nearest centroid (squared L2) of each row: points [N, D], centroids [K, D] -> [N] int64.
torch::Tensor assign_nearest(const torch::Tensor& points, const torch::Tensor& centroids,
                             int64_t chunk_rows = 4096);

/// Mean squared distance of each point to its nearest centroid.
double kmeans_objective(const torch::Tensor& points, const torch::Tensor& centroids,
                        int64_t chunk_rows = 4096);

}  // namespace clustermim
