/*
 * K-means in LibTorch (see kmeans.h).
 */
#include "tokenizers/kmeans.h"

#include <chrono>
#include <cmath>
#include <random>

#include "core/error.h"
#include "tokenizers/kmeans_cpu.h"

namespace clustermim {

namespace {

/// Nearest centroid of every point: indices [N] int64 and squared distances [N] float.
struct Assignment {
  torch::Tensor index;
  torch::Tensor distance;
};

/// Squared row norms [N] (norm() avoids the [N, D] temporary of x * x).
torch::Tensor squared_norms(const torch::Tensor& x) { return x.norm(2, 1).square(); }

bool runs_on_cpu_kernels(const torch::Tensor& x) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && x.is_contiguous();
}

Assignment assign_all(const torch::Tensor& x, const torch::Tensor& x_norms, const torch::Tensor& c,
                      int64_t chunk_rows) {
  Assignment a{torch::empty({x.size(0)}, x.options().dtype(torch::kLong)),
               torch::empty({x.size(0)}, x.options())};
  if (runs_on_cpu_kernels(x) && fused_nearest_available()) {
    nearest_centroid_fused(x, x_norms, c, a.index, a.distance);
    return a;
  }
  const torch::Tensor c_norms = squared_norms(c).unsqueeze(0);
  const torch::Tensor ct = c.t();
  for (int64_t start = 0; start < x.size(0); start += chunk_rows) {
    const int64_t n = std::min(chunk_rows, x.size(0) - start);
    const torch::Tensor d = torch::addmm(c_norms, x.narrow(0, start, n), ct, /*beta=*/1, /*alpha=*/-2);
    auto best = d.min(1);
    a.index.narrow(0, start, n).copy_(std::get<1>(best));
    a.distance.narrow(0, start, n).copy_((std::get<0>(best) + x_norms.narrow(0, start, n)).clamp_min_(0));
  }
  return a;
}

/// Draws an index with probability proportional to weights (a cumulative-sum search).
torch::Tensor sample_proportional(const torch::Tensor& cumulative, int64_t count,
                                  std::mt19937_64& rng) {
  const double total = cumulative[-1].item<double>();
  std::uniform_real_distribution<double> uniform(0.0, total);
  std::vector<double> draws(count);
  for (auto& d : draws) d = uniform(rng);
  auto targets = torch::tensor(draws, cumulative.options());
  return torch::searchsorted(cumulative, targets).clamp_max(cumulative.size(0) - 1);
}

/// Greedy k-means++ (Arthur & Vassilvitskii; sklearn's variant with several trials per centre),
/// on a random sample of at most `init_sample` points.
torch::Tensor init_kmeans_plus_plus(const torch::Tensor& all, const KMeansOptions& o) {
  std::mt19937_64 rng(o.seed);
  torch::Tensor x = all;
  if (o.init_sample > 0 && all.size(0) > std::max(o.init_sample, o.k)) {
    const int64_t m = std::max(o.init_sample, o.k);
    std::vector<int64_t> rows(m);
    std::uniform_int_distribution<int64_t> pick(0, all.size(0) - 1);
    for (auto& r : rows) r = pick(rng);
    x = all.index_select(0, torch::tensor(rows, torch::kLong).to(all.device()));
  }
  const int64_t n = x.size(0);
  const int64_t trials =
      o.init_trials > 0 ? o.init_trials : 2 + static_cast<int64_t>(std::log(double(o.k)));
  std::uniform_int_distribution<int64_t> first(0, n - 1);
  const torch::Tensor x_norms = squared_norms(x);

  std::vector<int64_t> chosen{first(rng)};
  torch::Tensor closest =
      (x_norms - 2 * torch::mv(x, x[chosen[0]]) + x_norms[chosen[0]]).clamp_min(0);
  for (int64_t c = 1; c < o.k; ++c) {
    const torch::Tensor cumulative = closest.to(torch::kFloat64).cumsum(0);
    const torch::Tensor candidates = sample_proportional(cumulative, trials, rng);
    const torch::Tensor cand = x.index_select(0, candidates);  // [T, D]
    // [T, N] rather than [N, T]: the GEMM with N as its long output side runs ~3x faster here.
    const torch::Tensor d = torch::addmm(x_norms.unsqueeze(0), cand, x.t(), /*beta=*/1, /*alpha=*/-2)
                                .add_(x_norms.index_select(0, candidates).unsqueeze(1))
                                .clamp_min_(0);
    const torch::Tensor updated = torch::minimum(d, closest.unsqueeze(0));
    const int64_t best = updated.sum(1).argmin().item<int64_t>();
    closest = updated[best];
    chosen.push_back(candidates[best].item<int64_t>());
  }
  auto index = torch::tensor(chosen, torch::TensorOptions().dtype(torch::kLong)).to(x.device());
  return x.index_select(0, index).clone();
}

torch::Tensor normalize_rows(const torch::Tensor& x) {
  return x / x.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
}

/// Re-seeds empty clusters with the points farthest from their centroids; returns the count.
int64_t repair_empty(torch::Tensor& centroids, const torch::Tensor& counts, const torch::Tensor& x,
                     const torch::Tensor& distance) {
  const torch::Tensor empty = (counts == 0).nonzero().squeeze(1);
  const int64_t n_empty = empty.size(0);
  if (n_empty == 0) return 0;
  const torch::Tensor far = std::get<1>(distance.topk(n_empty));
  centroids.index_copy_(0, empty, x.index_select(0, far));
  return n_empty;
}

}  // namespace

torch::Tensor assign_nearest(const torch::Tensor& points, const torch::Tensor& centroids,
                             int64_t chunk_rows) {
  CM_CHECK(points.dim() == 2 && centroids.dim() == 2 && points.size(1) == centroids.size(1),
           "points [N, D] and centroids [K, D] must share D");
  return assign_all(points, squared_norms(points), centroids.to(points.scalar_type()), chunk_rows)
      .index;
}

double kmeans_objective(const torch::Tensor& points, const torch::Tensor& centroids,
                        int64_t chunk_rows) {
  return assign_all(points, squared_norms(points), centroids.to(points.scalar_type()), chunk_rows)
      .distance.to(torch::kFloat64).mean().item<double>();
}

KMeansResult fit_kmeans(const torch::Tensor& points, const KMeansOptions& o,
                        const KMeansProgress& progress) {
  CM_CHECK(points.dim() == 2, "points must be [N, D]");
  CM_REQUIRE(o.k >= 1 && points.size(0) >= o.k, "K-means: need at least K = ", o.k,
             " points, got ", points.size(0));
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  torch::Tensor x = points.to(torch::kFloat32).contiguous();
  if (o.spherical) x = normalize_rows(x);

  KMeansResult result;
  torch::Tensor c;
  if (o.initial.defined()) {
    CM_REQUIRE(o.initial.dim() == 2 && o.initial.size(0) == o.k && o.initial.size(1) == x.size(1),
               "K-means: initial centroids must be [", o.k, ", ", x.size(1), "]");
    c = o.initial.to(x.device(), torch::kFloat32).clone();
  } else {
    c = init_kmeans_plus_plus(x, o);
  }
  const int64_t dim = x.size(1);
  const torch::Tensor x_norms = squared_norms(x);
  for (int it = 0; it < o.iterations; ++it) {
    Assignment a = assign_all(x, x_norms, c, o.chunk_rows);
    torch::Tensor sums;
    if (runs_on_cpu_kernels(x)) {
      sums = cluster_sums(x, a.index, o.k);
    } else {
      sums = torch::zeros({o.k, dim}, x.options()).index_add_(0, a.index, x);
    }
    const torch::Tensor counts = torch::bincount(a.index, {}, o.k);
    const torch::Tensor updated = sums / counts.clamp_min(1).unsqueeze(1).to(sums.dtype());
    const torch::Tensor nonempty = (counts > 0).unsqueeze(1);
    c = torch::where(nonempty, updated, c);
    const int64_t repairs = repair_empty(c, counts, x, a.distance);
    if (o.spherical) c = normalize_rows(c);
    result.empty_repairs += repairs;
    result.iterations = it + 1;

    const double objective = a.distance.to(torch::kFloat64).mean().item<double>();
    result.objective.push_back(objective);
    if (progress) progress(it, objective, repairs);
    const size_t m = result.objective.size();
    if (m >= 2 && repairs == 0 &&
        result.objective[m - 2] - objective <= o.tolerance * result.objective[m - 2]) {
      break;
    }
  }
  result.centroids = c;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace clustermim
