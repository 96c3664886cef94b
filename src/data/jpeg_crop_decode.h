/*
 * Decoding one encoded image straight into the crop a transform needs, at the output size.
 *
 * The streaming loader (issue 17) decodes every sample each epoch, so decoding a 500x375 JPEG
 * at full size to keep a 224 px crop, or to shrink it to 64 px, wastes most of the work. For a
 * JPEG, libjpeg-turbo's DCT scaling decodes at M/8 of the size for a fraction of the cost; we
 * pick the smallest M of 1, 2, 4, 8 (the scales with SIMD inverse DCTs; the others decode slower
 * than the full size) whose scaled crop still has at least the output size on both sides (never
 * upsampling by scaling), decode only the scanlines (jpeg_skip_scanlines) and the
 * columns (jpeg_crop_scanline) around the crop, and resample that region to the output: bicubic,
 * as apply_crop (transforms.h), on sub-pixel crop coordinates, after an area shrink by an
 * integer factor when even 1/8 leaves more than twice the output size. Grayscale JPEGs come out
 * as RGB; CMYK/YCCK JPEGs, PNG and other formats are decoded whole by OpenCV, then cropped and
 * resampled the same way. Every libjpeg warning (such as a premature end of data) is an error.
 * Output images are uint8 RGB [size, size, 3], row-major.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "data/transforms.h"

namespace clustermim {

/// Encoded image bytes in memory (not owned), and the name that errors give it (a file path,
/// "archive:member", ...). Both must outlive the call.
struct EncodedImage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::string_view name;
};

enum class ImageFormat { jpeg, png, other };

/// What an encoded image holds, read from its header without decoding the pixels.
struct ImageHeader {
  int width = 0, height = 0;  ///< pixels
  int channels = 0;  ///< components stored: JPEG 1 (gray), 3 or 4 (CMYK/YCCK); PNG 1-4
  ImageFormat format = ImageFormat::other;
};

/// The header of a JPEG (libjpeg's) or a PNG (its IHDR chunk); any other format is decoded whole
/// by OpenCV to learn its size (channels: 3, as decoded). Throws Error naming `image.name` when the
/// bytes are not a readable image.
ImageHeader read_image_header(const EncodedImage& image);

/// One decoded crop and the DCT scale it was decoded at.
struct DecodedCrop {
  std::vector<uint8_t> pixels;  ///< uint8 RGB [size, size, 3]
  int size = 0;
  int scale = 8;  ///< decoded at scale / 8 of the full size: 1, 2, 4 or 8 (8 for non-JPEG images)
};

/// Decodes the region `box` (in pixels of the full-size image, as sample_crop draws it) resized to
/// [out_size, out_size] and mirrored left-right when box.flipped, into `out` [out_size,
/// out_size, 3] (RGB). Returns the DCT scale numerator M used (decoded at M/8). Throws Error
/// naming `image.name` on corrupt or truncated data, and when `box` does not lie in the image.
int decode_crop(const EncodedImage& image, const CropBox& box, int out_size, uint8_t* out);

/// decode_crop into a new buffer.
DecodedCrop decode_crop(const EncodedImage& image, const CropBox& box, int out_size);

/// The evaluation transform: resize the shorter side to floor(out_size / crop_ratio) (the longer
/// to floor(that * long / short)), then center crop [out_size, out_size] with top =
/// round((h - out_size) / 2) as torchvision does (crop_ratio 0.875: 256 -> 224), decoded at the
/// smallest DCT scale that covers it. Writes `out` [out_size, out_size, 3]; returns M.
/// crop_ratio must lie in (0, 1].
int decode_eval(const EncodedImage& image, int out_size, float crop_ratio, uint8_t* out);

/// decode_eval into a new buffer.
DecodedCrop decode_eval(const EncodedImage& image, int out_size, float crop_ratio = 0.875f);

}  // namespace clustermim
