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
namespace {

/// Runs `decode` on sample i's bytes; an OpenCV failure becomes an Error naming the sample.
template <typename Decode>
auto with_sample(const SampleIndex& index, int64_t i, const Decode& decode) {
  const std::vector<uint8_t> bytes = read_sample(index, i);
  const EncodedImage image{bytes.data(), bytes.size(), index.names[static_cast<size_t>(i)]};
  try {
    return decode(image);
  } catch (const cv::Exception& e) {
    fail(image.name, ": cannot decode (", e.err, ")");
  }
}

}  // namespace

StreamImageSource::StreamImageSource(SampleIndex index) : index_(std::move(index)) {
  CM_REQUIRE(index_.size() > 0, "stream: ", name(), " has no samples");
  CM_REQUIRE(index_.names.size() == index_.samples.size(), "stream: ", name(), " lists ",
             index_.samples.size(), " samples but ", index_.names.size(), " names");
}

int32_t StreamImageSource::label(int64_t i) const {
  return index_.samples[static_cast<size_t>(i)].label;
}

ImageSize StreamImageSource::original_size(int64_t i) const {
  return with_sample(index_, i, [](const EncodedImage& image) {
    const ImageHeader header = read_image_header(image);
    return ImageSize{header.height, header.width};
  });
}

void StreamImageSource::crop(int64_t i, const CropBox& box, int out_size, uint8_t* out) const {
  with_sample(index_, i, [&](const EncodedImage& image) {
    return decode_crop(image, box, out_size, out);
  });
}

CropBox StreamImageSource::random_crop(int64_t i, const AugmentOptions& options, Rng& rng,
                                       int out_size, uint8_t* out) const {
  return with_sample(index_, i, [&](const EncodedImage& image) {
    const ImageHeader header = read_image_header(image);
    const CropBox box = sample_crop(header.height, header.width, options, rng);
    decode_crop(image, box, out_size, out);
    return box;
  });
}

void StreamImageSource::eval(int64_t i, int out_size, float crop_ratio, uint8_t* out) const {
  with_sample(index_, i, [&](const EncodedImage& image) {
    return decode_eval(image, out_size, crop_ratio, out);
  });
}

std::string StreamImageSource::name() const {
  return str_cat(index_.source, " (", index_.split, ")");
}

std::string StreamImageSource::identity() const {
  return str_cat(index_.source, "/", index_.split, "@", index_.key);
}

std::string StreamImageSource::sample_name(int64_t i) const {
  return index_.names[static_cast<size_t>(i)];
}

}  // namespace clustermim
