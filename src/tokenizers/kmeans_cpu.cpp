/*
 * CPU passes of Lloyd's iteration (see kmeans_cpu.h). The AVX-512 kernel is compiled with a
 * function target attribute, so the rest of the binary keeps the baseline instruction set and
 * runs on any x86-64 CPU; the attribute is checked at run time with __builtin_cpu_supports.
 */
#include "tokenizers/kmeans_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace clustermim {

#if defined(__x86_64__)
namespace {

#define CM_AVX512 __attribute__((target("avx512f")))

constexpr int64_t kLanes = 16;           ///< floats per AVX-512 register
constexpr int64_t kRows = 4;             ///< points per register block
constexpr int64_t kVectors = 4;          ///< centroid vectors per register block (64 centroids)

/// Dot products of R points with V * 16 centroids starting at k0, in registers; then each lane
/// keeps the smaller of its running best and the new distance ||c||^2 - 2 x.c (||x||^2 is added
/// once at the end). x [R, D]; ct [D, kp] (centroids transposed, zero-padded); cn [kp].
template <int R, int V>
CM_AVX512 inline void scan_block(const float* x, int64_t dim, const float* ct, int64_t kp,
                                 const float* cn, int64_t k0, __m512* best, __m512i* best_index) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t j = 0; j < dim; ++j) {
    __m512 c[V];
    for (int v = 0; v < V; ++v) c[v] = _mm512_loadu_ps(ct + j * kp + k0 + v * kLanes);
    for (int r = 0; r < R; ++r) {
      const __m512 xr = _mm512_set1_ps(x[r * dim + j]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(xr, c[v], acc[r][v]);
    }
  }
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 minus_two = _mm512_set1_ps(-2.0f);
  for (int v = 0; v < V; ++v) {
    const __m512 norms = _mm512_loadu_ps(cn + k0 + v * kLanes);
    const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(int(k0 + v * kLanes)), lane);
    for (int r = 0; r < R; ++r) {
      const __m512 d = _mm512_fmadd_ps(acc[r][v], minus_two, norms);
      const __mmask16 closer = _mm512_cmp_ps_mask(d, best[r], _CMP_LT_OQ);
      best[r] = _mm512_mask_mov_ps(best[r], closer, d);
      best_index[r] = _mm512_mask_mov_epi32(best_index[r], closer, index);
    }
  }
}

/// Nearest centroid of R consecutive points (x [R, D]) over all kp (padded) centroids.
template <int R>
CM_AVX512 void scan_rows(const float* x, const float* x_norms, int64_t dim, const float* ct,
                         int64_t kp, const float* cn, int64_t* index, float* distance) {
  __m512 best[R];
  __m512i best_index[R];
  for (int r = 0; r < R; ++r) {
    best[r] = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    best_index[r] = _mm512_setzero_si512();
  }
  int64_t k0 = 0;
  for (; k0 + kVectors * kLanes <= kp; k0 += kVectors * kLanes)
    scan_block<R, kVectors>(x, dim, ct, kp, cn, k0, best, best_index);
  for (; k0 < kp; k0 += kLanes) scan_block<R, 1>(x, dim, ct, kp, cn, k0, best, best_index);
  for (int r = 0; r < R; ++r) {
    alignas(64) float value[kLanes];
    alignas(64) int32_t at[kLanes];
    _mm512_store_ps(value, best[r]);
    _mm512_store_si512(at, best_index[r]);
    int l_best = 0;
    for (int l = 1; l < kLanes; ++l) {
      if (value[l] < value[l_best] || (value[l] == value[l_best] && at[l] < at[l_best])) l_best = l;
    }
    index[r] = at[l_best];
    distance[r] = std::max(value[l_best] + x_norms[r], 0.0f);
  }
}

CM_AVX512 void scan_range(const float* x, const float* x_norms, int64_t dim, const float* ct,
                          int64_t kp, const float* cn, int64_t begin, int64_t end,
                          int64_t* index, float* distance) {
  int64_t i = begin;
  for (; i + kRows <= end; i += kRows) {
    scan_rows<kRows>(x + i * dim, x_norms + i, dim, ct, kp, cn, index + i, distance + i);
  }
  for (; i < end; ++i) scan_rows<1>(x + i * dim, x_norms + i, dim, ct, kp, cn, index + i, distance + i);
}

}  // namespace

bool fused_nearest_available() { return __builtin_cpu_supports("avx512f"); }

void nearest_centroid_fused(const torch::Tensor& x, const torch::Tensor& x_norms,
                            const torch::Tensor& centroids, torch::Tensor& index,
                            torch::Tensor& distance) {
  CM_CHECK(fused_nearest_available(), "the fused nearest-centroid kernel needs AVX-512F");
  CM_CHECK(x.is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() && x.dim() == 2,
           "x must be a contiguous float32 CPU [N, D] tensor");
  const int64_t n = x.size(0), dim = x.size(1), k = centroids.size(0);
  const int64_t kp = (k + kLanes - 1) / kLanes * kLanes;
  const torch::Tensor c = centroids.to(torch::kFloat32).contiguous();
  // Padding centroids have zero coordinates and an infinite norm, so they are never nearest.
  const torch::Tensor ct = torch::zeros({dim, kp}, x.options());
  ct.narrow(1, 0, k).copy_(c.t());
  const torch::Tensor cn = torch::full({kp}, std::numeric_limits<float>::infinity(), x.options());
  cn.narrow(0, 0, k).copy_(c.square().sum(1));
  const torch::Tensor norms = x_norms.contiguous();
  const float *xp = x.data_ptr<float>(), *np = norms.data_ptr<float>();
  const float *ctp = ct.data_ptr<float>(), *cnp = cn.data_ptr<float>();
  int64_t* ip = index.data_ptr<int64_t>();
  float* dp = distance.data_ptr<float>();
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    scan_range(xp, np, dim, ctp, kp, cnp, begin, end, ip, dp);
  });
}

#else

bool fused_nearest_available() { return false; }

void nearest_centroid_fused(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&,
                            torch::Tensor&, torch::Tensor&) {
  CM_CHECK(false, "the fused nearest-centroid kernel needs an x86-64 CPU with AVX-512F");
}

#endif

torch::Tensor cluster_sums(const torch::Tensor& x, const torch::Tensor& index, int64_t k) {
  CM_CHECK(x.is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous() &&
               index.scalar_type() == torch::kLong && index.numel() == x.size(0),
           "cluster_sums: x must be contiguous float32 [N, D] with an int64 index [N]");
  const int64_t n = x.size(0), dim = x.size(1);
  const torch::Tensor partial = torch::zeros({at::get_num_threads(), k, dim}, x.options());
  const torch::Tensor idx = index.contiguous();
  const float* xp = x.data_ptr<float>();
  const int64_t* ip = idx.data_ptr<int64_t>();
  float* pp = partial.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    float* sums = pp + at::get_thread_num() * k * dim;
    for (int64_t i = begin; i < end; ++i) {
      float* dst = sums + ip[i] * dim;
      const float* src = xp + i * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] += src[j];
    }
  });
  return partial.sum(0);
}

}  // namespace clustermim
