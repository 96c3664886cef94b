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

std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed) {
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  if (count >= n) return all;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(n - i));
    std::swap(all[i], all[j]);
  }
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace clustermim
