/*
 * Random erasing (see random_erasing.h): timm's box draw and per-pixel N(0, 1) fill.
 */
#include "data/random_erasing.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/random_draws.h"

namespace clustermim {

void validate(const RandomErasingOptions& o) {
  CM_REQUIRE(o.probability >= 0 && o.probability <= 1, "random_erasing: probability ",
             o.probability, " must be in [0, 1]");
  CM_REQUIRE(o.min_area > 0 && o.min_area <= o.max_area && o.max_area <= 1,
             "random_erasing: area range (", o.min_area, ", ", o.max_area,
             ") must satisfy 0 < min <= max <= 1");
  CM_REQUIRE(o.min_aspect > 0 && o.min_aspect <= o.max_aspect, "random_erasing: aspect range (",
             o.min_aspect, ", ", o.max_aspect, ") must satisfy 0 < min <= max");
  CM_REQUIRE(o.attempts >= 1, "random_erasing: attempts ", o.attempts, " must be >= 1");
}

std::optional<EraseBox> draw_erasing(int channels, int height, int width,
                                     const RandomErasingOptions& options, Rng& rng,
                                     std::vector<float>& noise) {
  CM_REQUIRE(channels > 0 && height > 0 && width > 0, "random_erasing: empty image");
  if (uniform01(rng) > options.probability) return std::nullopt;
  const double area = static_cast<double>(height) * width;
  const double log_min = std::log(options.min_aspect), log_max = std::log(options.max_aspect);
  for (int attempt = 0; attempt < options.attempts; ++attempt) {
    const double target =
        (options.min_area + (options.max_area - options.min_area) * uniform01(rng)) * area;
    const double aspect = std::exp(log_min + (log_max - log_min) * uniform01(rng));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target * aspect)));
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target / aspect)));
    if (w >= width || h >= height) continue;
    const EraseBox box{static_cast<int>(uniform_int(rng, 0, height - h)),
                       static_cast<int>(uniform_int(rng, 0, width - w)), h, w};
    const int64_t values = static_cast<int64_t>(channels) * h * w;
    for (int64_t i = 0; i < values; ++i) noise.push_back(static_cast<float>(normal01(rng)));
    return box;
  }
  return std::nullopt;
}

void paste_erasure(const EraseBox& box, const float* noise, int channels, int height, int width,
                   float* image) {
  CM_CHECK(box.top >= 0 && box.left >= 0 && box.top + box.height <= height &&
               box.left + box.width <= width,
           "erase box out of the image");
  for (int c = 0; c < channels; ++c)
    for (int y = box.top; y < box.top + box.height; ++y) {
      float* row = image + (static_cast<int64_t>(c) * height + y) * width + box.left;
      std::copy(noise, noise + box.width, row);
      noise += box.width;
    }
}

std::optional<EraseBox> random_erasing(float* image, int channels, int height, int width,
                                       const RandomErasingOptions& options, Rng& rng) {
  CM_REQUIRE(image != nullptr, "random_erasing: empty image");
  std::vector<float> noise;
  const auto box = draw_erasing(channels, height, width, options, rng, noise);
  if (box) paste_erasure(*box, noise.data(), channels, height, width, image);
  return box;
}

}  // namespace clustermim
