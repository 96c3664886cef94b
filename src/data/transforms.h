/*
 * Image transforms for pretraining and evaluation, with MAE / torchvision semantics.
 *
 * Every transform maps one uint8 image [H, W, C] (C = 1 or 3) to a float image [3, S, S]
 * (grayscale repeated to three channels), normalized per channel as (x/255 - mean[c]) / std[c].
 *   eval:  Resize(S) of the shorter side + CenterCrop(S).
 *   train: RandomResizedCrop(S, scale=(0.2, 1), ratio=(3/4, 4/3), bicubic) + RandomHorizontalFlip,
 *          the crop drawn exactly as torchvision's RandomResizedCrop.get_params does.
 * The output is a plain float buffer so that this stays torch-free. Randomness comes from a
 * caller-owned Rng (SplitMix64) with our own uniform draws: std:: distributions are
 * implementation-defined, and seeding a std::mt19937_64 for every sample took ~15% of the
 * loader's time on 32x32 images. So a seed gives the same crops on every platform. The chosen
 * crop is returned as a CropBox so that tests and online tokenization can replay it.
 */
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"

namespace clustermim {

/// A read-only view of one uint8 image: [height, width, channels] row-major, channels 1 or 3.
struct ImageView {
  const uint8_t* data = nullptr;
  int height = 0, width = 0, channels = 0;
};

/// Image `i` of `dataset` as a view (no copy).
ImageView image_view(const Dataset& dataset, int64_t i);

/// RandomResizedCrop + flip parameters; the defaults are MAE's pretraining augmentation.
struct AugmentOptions {
  float scale_min = 0.2f;      ///< smallest crop area, as a fraction of the image area
  float scale_max = 1.0f;      ///< largest crop area fraction
  float ratio_min = 3.f / 4;   ///< smallest crop aspect ratio (width / height)
  float ratio_max = 4.f / 3;   ///< largest crop aspect ratio
  bool hflip = true;           ///< flip horizontally with probability 0.5
};

/// Throws Error when the options make no sense (scale not in (0, 1], min > max, ratio <= 0).
void validate(const AugmentOptions& options);

/// The region of the source image that was resized to the output, and whether it was mirrored.
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
  bool flipped = false;
};

/// Floats in one transformed image: 3 * size * size.
inline int64_t transformed_floats(int size) { return 3 * static_cast<int64_t>(size) * size; }

/// SplitMix64: a tiny, fully specified 64-bit generator (the same stream on every platform,
/// O(1) to seed, so each sample can have its own). A UniformRandomBitGenerator.
struct Rng {
  using result_type = uint64_t;
  uint64_t state = 0;
  explicit Rng(uint64_t seed = 0) : state(seed) {}
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }
};

/// Uniform double in [0, 1) from the top 53 bits of one draw.
double uniform01(Rng& rng);

/// Uniform integer in [lo, hi] (inclusive; multiply-shift, bias < 2^-40 for small ranges).
int64_t uniform_int(Rng& rng, int64_t lo, int64_t hi);

/// Draws a crop of an image [height, width] as torchvision's RandomResizedCrop.get_params
/// (10 attempts, then a central crop clamped to the ratio range), then the flip (p = 0.5) when
/// `options.hflip`. Rounding is Python's round (half to even).
CropBox sample_crop(int height, int width, const AugmentOptions& options, Rng& rng);

/// Crops `box` out of `image`, resizes it to [size, size] (bicubic), mirrors it when
/// `box.flipped`, and writes the normalized result to `out` [3, size, size].
void apply_crop(const ImageView& image, const CropBox& box, int size, const ChannelStats& stats,
                float* out);

/// The uint8 half of apply_crop: crops `box` out of `image`, resizes it to [size, size]
/// (bicubic), mirrors it when `box.flipped`, and writes `out` [size, size, 3] (grayscale
/// repeated), for augmentations that work on pixels (RandAugment) before normalize_image.
void crop_resize(const ImageView& image, const CropBox& box, int size, uint8_t* out);

/// The float half: writes the uint8 image `image` [H, W, 1|3] normalized as the transforms do
/// to `out` [3, H, W]. crop_resize + normalize_image = apply_crop, bit for bit.
void normalize_image(const ImageView& image, const ChannelStats& stats, float* out);

/// `image` [H, W, 1|3] uint8 as planar uint8 `out` [3, H, W] (grayscale repeated): the pixels
/// normalize_image would read, for normalizing later (on the device, tensor_batches.h).
void planar_image(const ImageView& image, uint8_t* out);

/// Training transform: sample_crop + apply_crop. Writes `out` [3, size, size]; returns the crop.
CropBox train_transform(const ImageView& image, int size, const ChannelStats& stats,
                        const AugmentOptions& options, Rng& rng, float* out);

/// Evaluation transform: resize the shorter side to `size` (area when shrinking, bicubic when
/// enlarging, nothing when equal; longer side = floor(size * long / short)), center crop
/// [size, size] with top = round((h - size) / 2), normalize. Writes `out` [3, size, size].
void eval_transform(const ImageView& image, int size, const ChannelStats& stats, float* out);

/// Convenience: eval_transform into a new vector [3, size, size].
std::vector<float> eval_transform(const ImageView& image, int size, const ChannelStats& stats);

/// The uint8 evaluation crop: resize the shorter side to floor(size / crop_ratio) (resized as
/// eval_transform resizes), center crop [size, size], write `out` [size, size, 3] (grayscale
/// repeated). crop_ratio in (0, 1]; eval_resize(image, size, 1) + normalize_image =
/// eval_transform, bit for bit.
void eval_resize(const ImageView& image, int size, float crop_ratio, uint8_t* out);

}  // namespace clustermim
