/*
 * Random erasing as timm's RandomErasing(probability=0.25, mode='pixel', max_count=1), the last
 * step of MAE's fine-tuning transform: with probability p, one box of the normalized image gets
 * fresh N(0, 1) values. The box is drawn as timm does: up to `attempts` tries of an area
 * fraction ~ U(min_area, max_area) and a log-uniform aspect ratio (height / width), rounded
 * (Python's round), kept when strictly smaller than the image, placed uniformly. Normal values
 * come from random_draws.h's Box-Muller, in [C, h, w] order. Only timm's 'pixel' mode and one box
 * (MAE's setting) are implemented. draw_erasing makes the same draws without an image, so a batch
 * of uint8 pixels can be erased after it is normalized elsewhere (on the GPU, tensor_batches.h).
 * Torch-free; the erased box is returned so tests can check it.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "data/transforms.h"

namespace clustermim {

/// Random erasing parameters; the defaults are MAE's fine-tuning (timm reprob 0.25, remode pixel,
/// recount 1).
struct RandomErasingOptions {
  double probability = 0.25;     ///< chance that an image gets a box; 0 = off
  double min_area = 0.02;        ///< smallest box area, as a fraction of the image area
  double max_area = 1.0 / 3;     ///< largest box area fraction
  double min_aspect = 0.3;       ///< box height / width is log-uniform in [min_aspect, max_aspect]
  double max_aspect = 1.0 / 0.3;
  int attempts = 10;             ///< tries before giving up (no box)
};

/// Throws Error when the options make no sense.
void validate(const RandomErasingOptions& options);

/// An erased region, in output pixels.
struct EraseBox {
  int top = 0, left = 0, height = 0, width = 0;
};

/// The draws of random_erasing for an image [channels, height, width], without the image: the
/// box (nullopt = nothing erased) and its fill, appended to `noise` as [channels, box.height,
/// box.width]. random_erasing(image, ...) == draw_erasing + paste_erasure, draw for draw.
std::optional<EraseBox> draw_erasing(int channels, int height, int width,
                                     const RandomErasingOptions& options, Rng& rng,
                                     std::vector<float>& noise);

/// Writes `noise` [channels, box.height, box.width] into box `box` of `image`
/// [channels, height, width].
void paste_erasure(const EraseBox& box, const float* noise, int channels, int height, int width,
                   float* image);

/// Erases (maybe) one box of `image` [channels, height, width] (normalized floats) in place
/// with N(0, 1) values. Returns the box, or nullopt when the draw or all attempts said no.
std::optional<EraseBox> random_erasing(float* image, int channels, int height, int width,
                                       const RandomErasingOptions& options, Rng& rng);

}  // namespace clustermim
