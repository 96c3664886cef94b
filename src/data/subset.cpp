/*
 * Dataset subsets (see subset.h).
 */
#include "data/subset.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "core/error.h"

namespace clustermim {

Dataset subset_dataset(const Dataset& dataset, const std::vector<int64_t>& indices) {
  Dataset out;
  out.name = dataset.name;
  out.split = dataset.split;
  out.source = dataset.source;
  out.height = dataset.height;
  out.width = dataset.width;
  out.channels = dataset.channels;
  out.classes = dataset.classes;
  const int64_t bytes = dataset.image_bytes();
  out.pixels.resize(indices.size() * bytes);
  out.labels.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    CM_CHECK(indices[i] >= 0 && indices[i] < dataset.size(), "subset index out of range");
    std::memcpy(out.pixels.data() + i * bytes, dataset.image(indices[i]), bytes);
    out.labels.push_back(dataset.labels[indices[i]]);
  }
  return out;
}

namespace {

/// The first `count` entries of a seeded partial Fisher-Yates shuffle of [0, n), in draw order.
std::vector<int64_t> draw_indices(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
    std::swap(all[i], all[j]);
  }
  all.resize(count);
  return all;
}

}  // namespace

std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> drawn = draw_indices(n, std::min(count, n), seed);
  std::sort(drawn.begin(), drawn.end());
  return drawn;
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> sample_disjoint_indices(int64_t n,
                                                                              int64_t first,
                                                                              int64_t second,
                                                                              uint64_t seed) {
  CM_REQUIRE(first >= 0 && second >= 0 && first + second <= n, "cannot draw ", first, " + ",
             second, " distinct indices from ", n);
  const std::vector<int64_t> drawn = draw_indices(n, first + second, seed);
  std::vector<int64_t> a(drawn.begin(), drawn.begin() + first), b(drawn.begin() + first, drawn.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {a, b};
}

}  // namespace clustermim
