/*
 * Small synthetic datasets and temp folders shared by the tests (header-only, no I/O beyond
 * the test's own temp folder).
 */
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include "core/error.h"
#include "data/dataset.h"

namespace clustermim::testing {

/// A fresh folder under the test temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path() / "clustermim-test-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// `n` images [size, size, 3]: class c is a flat colour (dark for 0, bright for 1, ...) plus
/// noise, so pixel tokens can separate classes.
inline Dataset make_color_dataset(int64_t n, int64_t size, int64_t classes, uint64_t seed = 0) {
  Dataset d;
  d.name = "synthetic";
  d.split = "train";
  d.source = "synthetic";
  d.height = d.width = size;
  d.channels = 3;
  for (int64_t c = 0; c < classes; ++c) d.classes.push_back("class" + std::to_string(c));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(-10, 10);
  d.pixels.resize(n * size * size * 3);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(i % classes);
    d.labels.push_back(label);
    const int base = 30 + static_cast<int>(200 * label / std::max<int64_t>(1, classes - 1));
    for (int64_t j = 0; j < size * size * 3; ++j) {
      d.pixels[i * size * size * 3 + j] = static_cast<uint8_t>(std::clamp(base + noise(rng), 0, 255));
    }
  }
  return d;
}

/// The message of the clustermim::Error that `fn` throws, or "" when it throws none.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace clustermim::testing
