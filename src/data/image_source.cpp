/*
 * ImageSource's shared random crop, the in-memory source, and channel statistics estimated from a
 * sample of images (see image_source.h).
 */
#include "data/image_source.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace clustermim {

CropBox ImageSource::random_crop(int64_t i, const AugmentOptions& options, Rng& rng, int out_size,
                                 uint8_t* out) const {
  const ImageSize original = original_size(i);
  const CropBox box = sample_crop(original.height, original.width, options, rng);
  crop(i, box, out_size, out);
  return box;
}

MemoryImageSource::MemoryImageSource(const Dataset& dataset) : dataset_(dataset) {
  const Dataset& d = dataset_;
  CM_REQUIRE(d.size() > 0, "loader: dataset '", d.name, "' is empty");
  CM_REQUIRE(d.channels == 1 || d.channels == 3, "loader: dataset '", d.name, "' has ",
             d.channels, " channels, expected 1 or 3");
  CM_REQUIRE(d.height > 0 && d.width > 0, "loader: dataset '", d.name, "' has empty images");
  const int64_t expected = d.size() * d.image_bytes();
  CM_REQUIRE(static_cast<int64_t>(d.pixels.size()) == expected, "loader: dataset '", d.name,
             "' holds ", d.pixels.size(), " pixel bytes, expected N*H*W*C = ", expected);
}

int32_t MemoryImageSource::label(int64_t i) const {
  return dataset_.labels[static_cast<size_t>(i)];
}

ImageSize MemoryImageSource::original_size(int64_t) const {
  return {static_cast<int>(dataset_.height), static_cast<int>(dataset_.width)};
}

int MemoryImageSource::native_side() const {
  return static_cast<int>(std::min(dataset_.height, dataset_.width));
}

void MemoryImageSource::crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const {
  crop_resize(image_view(dataset_, i), box, out_size, out);
}

void MemoryImageSource::eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const {
  eval_resize(image_view(dataset_, i), out_size, crop_ratio, out);
}

std::string MemoryImageSource::name() const { return dataset_.name; }

std::string MemoryImageSource::sample_name(int64_t i) const {
  return str_cat(dataset_.name, "[", i, "]");
}

ChannelStats estimate_channel_stats(const ImageSource& source, int64_t max_images, uint64_t seed,
                                    int side) {
  const int64_t n = source.size();
  CM_REQUIRE(n > 0, source.name(), ": cannot estimate channel statistics of an empty source");
  CM_REQUIRE(max_images > 0, "channel statistics: max_images ", max_images, " must be > 0");
  CM_REQUIRE(side >= 0, "channel statistics: side ", side, " must be >= 0");
  if (side == 0) side = source.native_side() > 0 ? source.native_side() : 224;
  // A partial Fisher-Yates shuffle picks the sample; reading it in index order keeps files local.
  std::vector<int64_t> picked(static_cast<size_t>(n));
  std::iota(picked.begin(), picked.end(), int64_t{0});
  const int64_t count = std::min(n, max_images);
  Rng rng(seed);
  if (count < n) {
    for (int64_t k = 0; k < count; ++k) std::swap(picked[k], picked[uniform_int(rng, k, n - 1)]);
  }
  picked.resize(static_cast<size_t>(count));
  std::sort(picked.begin(), picked.end());
  // A histogram per channel makes the sums exact, as compute_channel_stats does.
  std::array<std::array<uint64_t, 256>, 3> histogram{};
  std::vector<uint8_t> pixels(static_cast<size_t>(side) * side * 3);
  int64_t decoded = 0;
  std::string first_error;
  for (const int64_t i : picked) {
    try {
      source.eval(i, side, 1.f, pixels.data());
    } catch (const Error& e) {
      if (first_error.empty()) first_error = e.what();
      continue;
    }
    ++decoded;
    for (size_t p = 0; p < pixels.size(); p += 3)
      for (int c = 0; c < 3; ++c) ++histogram[c][pixels[p + c]];
  }
  CM_REQUIRE(decoded > 0, source.name(), ": no image of the ", count,
             " sampled for channel statistics decodes (first error: ", first_error, ")");
  ChannelStats stats;
  for (int c = 0; c < 3; ++c) {
    double total = 0, sum = 0, sum_sq = 0;
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0, k = static_cast<double>(histogram[c][v]);
      total += k;
      sum += k * x;
      sum_sq += k * x * x;
    }
    const double mean = sum / total;
    stats.mean[c] = static_cast<float>(mean);
    stats.std[c] = static_cast<float>(std::sqrt(std::max(0.0, sum_sq / total - mean * mean)));
  }
  return stats;
}

}  // namespace clustermim
