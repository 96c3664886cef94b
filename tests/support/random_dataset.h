/*
 * A labeled in-memory Dataset of uniformly random pixels, as the loader and batch tests use it.
 */
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "data/dataset.h"

namespace clustermim {

/// n random images [side, side, channels] labeled i % 10 (classes "class0".."class9").
inline Dataset random_dataset(int64_t n, int64_t side = 8, int64_t channels = 3) {
  Dataset d;
  d.name = "synthetic";
  d.height = d.width = side;
  d.channels = channels;
  d.pixels.resize(static_cast<size_t>(n * side * side * channels));
  std::mt19937_64 rng(123);
  for (auto& p : d.pixels) p = static_cast<uint8_t>(rng() & 0xff);
  for (int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<int32_t>(i % 10));
  for (int c = 0; c < 10; ++c) d.classes.push_back("class" + std::to_string(c));
  return d;
}

}  // namespace clustermim
