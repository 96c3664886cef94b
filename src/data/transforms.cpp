/*
 * Image transforms (see transforms.h): torchvision's RandomResizedCrop / Resize / CenterCrop
 * re-done with OpenCV resizes on uint8 images, and one normalize-to-CHW writer shared by both.
 */
#include "data/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace clustermim {
namespace {

/// Python's round(): nearest integer, ties to even (std::nearbyint in the default rounding mode).
int py_round(double x) { return static_cast<int>(std::nearbyint(x)); }

void check_image(const ImageView& image) {
  CM_REQUIRE(image.data != nullptr && image.height > 0 && image.width > 0,
             "transform: empty image");
  CM_REQUIRE(image.channels == 1 || image.channels == 3, "transform: image has ",
             image.channels, " channels, expected 1 or 3");
}

void check_size(int size) { CM_REQUIRE(size > 0, "transform: output size ", size, " must be > 0"); }

/// A cv::Mat header on the view's pixels (no copy; never written through).
cv::Mat as_mat(const ImageView& image) {
  return cv::Mat(image.height, image.width, CV_8UC(image.channels),
                 const_cast<uint8_t*>(image.data));
}

/// (v/255 - mean[c]) / std[c] for every byte value v and channel c.
std::array<float, 3 * 256> normalize_table(const ChannelStats& stats) {
  std::array<float, 3 * 256> table{};
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v)
      table[c * 256 + v] = (static_cast<float>(v) / 255.f - stats.mean[c]) / stats.std[c];
  return table;
}

/// Writes the uint8 image `img` [S, S, 1|3] (any row stride) as normalized floats [3, S, S],
/// mirrored left-right when `flip`; grayscale goes through each channel's table.
void write_chw(const cv::Mat& img, bool flip, const ChannelStats& stats, float* out) {
  const auto table = normalize_table(stats);
  const int h = img.rows, w = img.cols, channels = img.channels();
  const int64_t plane = static_cast<int64_t>(h) * w;
  for (int c = 0; c < 3; ++c) {
    const float* lut = table.data() + c * 256;
    for (int y = 0; y < h; ++y) {
      const uint8_t* src = img.ptr<uint8_t>(y) + (channels == 3 ? c : 0);
      float* dst = out + c * plane + static_cast<int64_t>(y) * w;
      if (flip) {
        for (int x = 0; x < w; ++x) dst[w - 1 - x] = lut[src[x * channels]];
      } else {
        for (int x = 0; x < w; ++x) dst[x] = lut[src[x * channels]];
      }
    }
  }
}

}  // namespace

ImageView image_view(const Dataset& dataset, int64_t i) {
  CM_CHECK(i >= 0 && i < dataset.size(), "image index ", i);
  return {dataset.image(i), static_cast<int>(dataset.height), static_cast<int>(dataset.width),
          static_cast<int>(dataset.channels)};
}

void validate(const AugmentOptions& o) {
  CM_REQUIRE(o.scale_min > 0 && o.scale_min <= o.scale_max && o.scale_max <= 1,
             "augment: scale range (", o.scale_min, ", ", o.scale_max,
             ") must satisfy 0 < min <= max <= 1");
  CM_REQUIRE(o.ratio_min > 0 && o.ratio_min <= o.ratio_max, "augment: ratio range (",
             o.ratio_min, ", ", o.ratio_max, ") must satisfy 0 < min <= max");
}

double uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

int64_t uniform_int(Rng& rng, int64_t lo, int64_t hi) {
  CM_CHECK(lo <= hi);
  const auto span = static_cast<unsigned __int128>(static_cast<uint64_t>(hi - lo) + 1);
  return lo + static_cast<int64_t>((static_cast<unsigned __int128>(rng()) * span) >> 64);
}

CropBox sample_crop(int height, int width, const AugmentOptions& options,
                    Rng& rng) {
  CM_REQUIRE(height > 0 && width > 0, "sample_crop: empty image");
  const double area = static_cast<double>(height) * width;
  const double log_min = std::log(static_cast<double>(options.ratio_min));
  const double log_max = std::log(static_cast<double>(options.ratio_max));
  CropBox box;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * (options.scale_min +
                                  (options.scale_max - options.scale_min) * uniform01(rng));
    const double ratio = std::exp(log_min + (log_max - log_min) * uniform01(rng));
    const int w = py_round(std::sqrt(target * ratio));
    const int h = py_round(std::sqrt(target / ratio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      box = {static_cast<int>(uniform_int(rng, 0, height - h)),
             static_cast<int>(uniform_int(rng, 0, width - w)), h, w, false};
      found = true;
    }
  }
  if (!found) {  // central crop, aspect ratio clamped into [ratio_min, ratio_max]
    const double in_ratio = static_cast<double>(width) / height;
    int w = width, h = height;
    if (in_ratio < options.ratio_min) {
      h = std::max(1, py_round(w / static_cast<double>(options.ratio_min)));
    } else if (in_ratio > options.ratio_max) {
      w = std::max(1, py_round(h * static_cast<double>(options.ratio_max)));
    }
    box = {(height - h) / 2, (width - w) / 2, h, w, false};
  }
  if (options.hflip) box.flipped = uniform01(rng) < 0.5;
  return box;
}

void apply_crop(const ImageView& image, const CropBox& box, int size, const ChannelStats& stats,
                float* out) {
  check_image(image);
  check_size(size);
  CM_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
               box.top + box.height <= image.height && box.left + box.width <= image.width,
           "crop box out of the image");
  const cv::Mat roi = as_mat(image)(cv::Rect(box.left, box.top, box.width, box.height));
  if (box.height == size && box.width == size) return write_chw(roi, box.flipped, stats, out);
  cv::Mat resized;
  cv::resize(roi, resized, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  write_chw(resized, box.flipped, stats, out);
}

void crop_resize(const ImageView& image, const CropBox& box, int size, uint8_t* out) {
  check_image(image);
  check_size(size);
  CM_CHECK(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
               box.top + box.height <= image.height && box.left + box.width <= image.width,
           "crop box out of the image");
  const cv::Mat roi = as_mat(image)(cv::Rect(box.left, box.top, box.width, box.height));
  if (image.channels == 3) {  // straight into `out`: the loader's per-image path
    cv::Mat dst(size, size, CV_8UC3, out);
    if (box.height != size || box.width != size) {
      cv::resize(roi, dst, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
    } else {
      roi.copyTo(dst);
    }
    if (box.flipped) cv::flip(dst, dst, 1);
    return;
  }
  cv::Mat resized = roi;
  if (box.height != size || box.width != size)
    cv::resize(roi, resized, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  const int channels = image.channels;
  for (int y = 0; y < size; ++y) {
    const uint8_t* src = resized.ptr<uint8_t>(y);
    uint8_t* dst = out + static_cast<int64_t>(y) * size * 3;
    for (int x = 0; x < size; ++x) {
      const uint8_t* pixel = src + (box.flipped ? size - 1 - x : x) * channels;
      for (int c = 0; c < 3; ++c) dst[x * 3 + c] = pixel[channels == 3 ? c : 0];
    }
  }
}

void normalize_image(const ImageView& image, const ChannelStats& stats, float* out) {
  check_image(image);
  write_chw(as_mat(image), false, stats, out);
}

void planar_image(const ImageView& image, uint8_t* out) {
  check_image(image);
  const int64_t plane = static_cast<int64_t>(image.height) * image.width;
  for (int c = 0; c < 3; ++c) {
    const uint8_t* src = image.data + (image.channels == 3 ? c : 0);
    uint8_t* dst = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = src[i * image.channels];
  }
}

CropBox train_transform(const ImageView& image, int size, const ChannelStats& stats,
                        const AugmentOptions& options, Rng& rng, float* out) {
  check_image(image);
  const CropBox box = sample_crop(image.height, image.width, options, rng);
  apply_crop(image, box, size, stats, out);
  return box;
}

/// The evaluation crop of `image` as a view [size, size] into a resized copy (or into the image):
/// shorter side resized to floor(size / crop_ratio) (area when shrinking, bicubic when enlarging,
/// nothing when equal; longer side = floor(that * long / short)), then the center crop.
cv::Mat eval_region(const ImageView& image, int size, float crop_ratio) {
  check_image(image);
  check_size(size);
  CM_REQUIRE(crop_ratio > 0 && crop_ratio <= 1, "transform: crop ratio ", crop_ratio,
             " must lie in (0, 1]");
  const cv::Mat src = as_mat(image);
  cv::Mat resized = src;
  const int shorter = std::min(image.height, image.width);
  const auto resize = static_cast<int64_t>(size / static_cast<double>(crop_ratio));
  if (shorter != resize) {
    const int longer = static_cast<int>(resize * std::max(image.height, image.width) / shorter);
    const cv::Size target = image.height <= image.width
                                ? cv::Size(longer, static_cast<int>(resize))
                                : cv::Size(static_cast<int>(resize), longer);
    cv::resize(src, resized, target, 0, 0, resize < shorter ? cv::INTER_AREA : cv::INTER_CUBIC);
  }
  const int top = py_round((resized.rows - size) / 2.0);
  const int left = py_round((resized.cols - size) / 2.0);
  return resized(cv::Rect(left, top, size, size));
}

void eval_transform(const ImageView& image, int size, const ChannelStats& stats, float* out) {
  write_chw(eval_region(image, size, 1.f), false, stats, out);
}

std::vector<float> eval_transform(const ImageView& image, int size, const ChannelStats& stats) {
  check_size(size);
  std::vector<float> out(static_cast<size_t>(transformed_floats(size)));
  eval_transform(image, size, stats, out.data());
  return out;
}

void eval_resize(const ImageView& image, int size, float crop_ratio, uint8_t* out) {
  const cv::Mat region = eval_region(image, size, crop_ratio);
  const int channels = image.channels;
  for (int y = 0; y < size; ++y) {
    const uint8_t* src = region.ptr<uint8_t>(y);
    uint8_t* dst = out + static_cast<int64_t>(y) * size * 3;
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) dst[x * 3 + c] = src[x * channels + (channels == 3 ? c : 0)];
  }
}

}  // namespace clustermim
