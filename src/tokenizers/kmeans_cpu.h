/*
 * The two passes of a Lloyd iteration written for the CPU, where LibTorch's versions are slow at
 * K-means shapes: the nearest-centroid search and the per-cluster sums.
 *
 * LibTorch finds nearest centroids with an addmm into an [N, K] matrix and a min over its rows;
 * at D = 48 (4x4x3 pixel patches) the narrow GEMM runs at 25-35 GFLOP/s on this project's 2-core
 * machine, and the min reduction adds a quarter to that. The fused kernel keeps a block of 4 points x 64 centroids of
 * dot products in AVX-512 registers and lets only each point's best centroid leave, so the
 * [N, K] matrix is never written. It is chosen at run time where the CPU has AVX-512F;
 * fit_kmeans and assign_nearest use LibTorch elsewhere (other CPUs, GPUs).
 */
#pragma once

#include "backend/torch_pch.h"

namespace clustermim {

/// True when this CPU runs nearest_centroid_fused (x86-64 with AVX-512F).
bool fused_nearest_available();

/// Nearest centroid by squared L2 distance, without forming the [N, K] distance matrix.
/// x [N, D] float32 contiguous CPU; x_norms [N] (squared row norms of x); centroids [K, D].
/// Writes index [N] int64 (the lowest index among exact ties) and distance [N] float32 (the
/// squared distance, clamped at 0). Requires fused_nearest_available().
void nearest_centroid_fused(const torch::Tensor& x, const torch::Tensor& x_norms,
                            const torch::Tensor& centroids, torch::Tensor& index,
                            torch::Tensor& distance);

/// Per-cluster sums of the rows of x [N, D] float32 CPU, given index [N] int64 in [0, k):
/// [k, D] float32. One pass with a buffer per thread (LibTorch's index_add_ is serial here).
torch::Tensor cluster_sums(const torch::Tensor& x, const torch::Tensor& index, int64_t k);

}  // namespace clustermim
