/*
 * StreamImageSource (see stream_image_source.h): one read and one crop-aware decode per sample.
 */
#include "data/stream_image_source.h"

#include <opencv2/core.hpp>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/jpeg_crop_decode.h"

namespace clustermim {

template <typename Decode>
auto StreamImageSource::with_sample(int64_t i, const Decode& decode) const {
  try {
    const std::vector<uint8_t> bytes = read_sample(index_, i);
    const EncodedImage image{bytes.data(), bytes.size(), index_.names[static_cast<size_t>(i)]};
    try {
      return decode(image);
    } catch (const cv::Exception& e) {
      fail(image.name, ": cannot decode (", e.err, ")");
    }
  } catch (const Error&) {
    const std::lock_guard<std::mutex> lock(failures_->mutex);
    failures_->indices.insert(i);
    throw;
  }
}

StreamImageSource::StreamImageSource(SampleIndex index) : index_(std::move(index)) {
  CM_REQUIRE(index_.size() > 0, "stream: ", name(), " has no samples");
  CM_REQUIRE(index_.names.size() == index_.samples.size(), "stream: ", name(), " lists ",
             index_.samples.size(), " samples but ", index_.names.size(), " names");
}

int32_t StreamImageSource::label(int64_t i) const {
  return index_.samples[static_cast<size_t>(i)].label;
}

ImageSize StreamImageSource::original_size(int64_t i) const {
  return with_sample(i, [](const EncodedImage& image) {
    const ImageHeader header = read_image_header(image);
    return ImageSize{header.height, header.width};
  });
}

void StreamImageSource::crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const {
  with_sample(i, [&](const EncodedImage& image) {
    return decode_crop(image, box, out_size, out);
  });
}

CropBox StreamImageSource::random_crop(int64_t i, const AugmentOptions& options, Rng& rng,
                                       int out_size, uint8_t* out) const {
  return with_sample(i, [&](const EncodedImage& image) {
    const ImageHeader header = read_image_header(image);
    const CropBox box = sample_crop(header.height, header.width, options, rng);
    decode_crop(image, box, out_size, out);
    return box;
  });
}

void StreamImageSource::eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const {
  with_sample(i, [&](const EncodedImage& image) {
    return decode_eval(image, out_size, crop_ratio, out);
  });
}

std::string StreamImageSource::name() const {
  return str_cat(index_.source, " (", index_.split, ")");
}

std::string StreamImageSource::identity() const {
  return str_cat(index_.source, "/", index_.split, "@", index_.key);
}

int64_t StreamImageSource::failed_samples() const {
  const std::lock_guard<std::mutex> lock(failures_->mutex);
  return static_cast<int64_t>(failures_->indices.size());
}

std::string StreamImageSource::sample_name(int64_t i) const {
  return index_.names[static_cast<size_t>(i)];
}

}  // namespace clustermim
