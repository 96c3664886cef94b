/*
 * Subsets of a dataset: a copy holding chosen images, used to fit tokenizers on a sample.
 */
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

/// A copy of `dataset` holding images `indices` (in that order).
Dataset subset_dataset(const Dataset& dataset, const std::vector<int64_t>& indices);

/// `count` distinct indices drawn uniformly from [0, n) by a seeded partial Fisher-Yates shuffle,
/// sorted ascending; all of [0, n) when count >= n.
std::vector<int64_t> sample_indices(int64_t n, int64_t count, uint64_t seed);

/// Two disjoint sets of `first` and `second` indices drawn uniformly from [0, n) (seeded), each
/// sorted ascending. Both are random samples even when they cover all of [0, n), so a split
/// stored class by class still gives each set every class.
std::pair<std::vector<int64_t>, std::vector<int64_t>> sample_disjoint_indices(int64_t n,
                                                                              int64_t first,
                                                                              int64_t second,
                                                                              uint64_t seed);

}  // namespace clustermim
