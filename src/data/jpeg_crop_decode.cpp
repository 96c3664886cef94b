/*
 * Crop-aware image decoding (see jpeg_crop_decode.h): libjpeg-turbo's DCT scaling, scanline
 * skipping and column cropping for JPEG, OpenCV for the rest, and one resampler for both.
 *
 * libjpeg reports errors by calling error_exit, which must not return. Ours longjmps back into
 * the guarded step that made the call; each step is a small member function whose frame holds
 * no object with a destructor, so the jump skips nothing, and the caller turns the failure into
 * clustermim::Error. Warnings (corrupt data, premature end of file) take the same way out.
 */
#include "data/jpeg_crop_decode.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include <algorithm>
#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace clustermim {
namespace {

/// Scaled pixels decoded beyond each side of the crop: bicubic reads two neighbours.
constexpr int kMargin = 2;

/// A rectangle of an image in continuous pixel coordinates (0 = the left edge of pixel 0).
struct Region {
  double x = 0, y = 0, w = 0, h = 0;
};

bool is_jpeg(const EncodedImage& image) {
  return image.size >= 3 && image.data[0] == 0xff && image.data[1] == 0xd8 &&
         image.data[2] == 0xff;
}

bool is_png(const EncodedImage& image) {
  static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return image.size >= 8 && std::memcmp(image.data, magic, 8) == 0;
}

uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

/// The PNG's IHDR chunk: width, height, and the channels its color type stores.
ImageHeader png_header(const EncodedImage& image) {
  const uint8_t* p = image.data;
  CM_REQUIRE(image.size >= 26 && std::memcmp(p + 12, "IHDR", 4) == 0, image.name,
             ": corrupt PNG header (no IHDR chunk)");
  const uint32_t width = big_endian32(p + 16), height = big_endian32(p + 20);
  CM_REQUIRE(width > 0 && height > 0 && width < (1u << 31) && height < (1u << 31), image.name,
             ": corrupt PNG header (size ", width, "x", height, ")");
  static const int channels_of_type[7] = {1, 0, 3, 3, 2, 0, 4};  // 0 marks an invalid type
  const int type = p[25];
  CM_REQUIRE(type <= 6 && channels_of_type[type] > 0, image.name,
             ": corrupt PNG header (color type ", type, ")");
  return {static_cast<int>(width), static_cast<int>(height), channels_of_type[type],
          ImageFormat::png};
}

/// The whole image decoded by OpenCV, as RGB [H, W, 3] (EXIF orientation ignored, as libjpeg
/// and PIL do).
cv::Mat decode_with_opencv(const EncodedImage& image) {
  CM_REQUIRE(image.size < (size_t{1} << 31), image.name, ": image data over 2 GiB");
  const cv::Mat raw(1, static_cast<int>(image.size), CV_8UC1, const_cast<uint8_t*>(image.data));
  cv::Mat decoded = cv::imdecode(raw, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  CM_REQUIRE(!decoded.empty(), image.name, ": not a decodable image");
  cv::cvtColor(decoded, decoded, cv::COLOR_BGR2RGB);
  return decoded;
}

struct JpegErrors {
  jpeg_error_mgr manager;  ///< first member: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

/// Warnings (level -1) are errors: they mean corrupt or missing data. Trace messages are dropped.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_jpeg_error(cinfo);
}

/// One libjpeg decompressor reading an image in memory.
class JpegDecoder {
 public:
  explicit JpegDecoder(const EncodedImage& image) : image_(image) {
    std::memset(&cinfo_, 0, sizeof(cinfo_));
    cinfo_.err = jpeg_std_error(&errors_.manager);
    errors_.manager.error_exit = on_jpeg_error;
    errors_.manager.emit_message = on_jpeg_message;
    if (!guarded_open()) {
      jpeg_destroy_decompress(&cinfo_);  // the destructor does not run when the constructor throws
      check(false, "corrupt JPEG header");
    }
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo_); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  const jpeg_decompress_struct& info() const { return cinfo_; }

  /// True for the color spaces libjpeg turns into RGB (gray, YCbCr, RGB); CMYK and YCCK are not.
  bool converts_to_rgb() const {
    return cinfo_.jpeg_color_space == JCS_GRAYSCALE || cinfo_.jpeg_color_space == JCS_YCbCr ||
           cinfo_.jpeg_color_space == JCS_RGB;
  }

  /// Sets RGB output at scale m/8; info().output_width/height become the scaled size.
  void set_scale(int m) {
    cinfo_.scale_num = static_cast<unsigned>(m);
    cinfo_.scale_denom = 8;
    cinfo_.out_color_space = JCS_RGB;
    check(guarded_output_dimensions(), "corrupt JPEG");
  }

  /// Decodes the scaled rows [y0, y1) and the columns [x0, x1), widened by libjpeg to whole
  /// blocks on the left, into a new image; `*first_column` receives the first column decoded.
  cv::Mat decode(int x0, int x1, int y0, int y1, int* first_column) {
    cv::Mat buffer(y1 - y0, static_cast<int>(cinfo_.output_width), CV_8UC3);
    auto offset = static_cast<JDIMENSION>(x0);
    auto width = static_cast<JDIMENSION>(x1 - x0);
    check(guarded_decode(&offset, &width, static_cast<JDIMENSION>(y0),
                         static_cast<JDIMENSION>(y1 - y0), buffer.data, buffer.step[0]),
          "corrupt JPEG");
    *first_column = static_cast<int>(offset);
    return buffer(cv::Rect(0, 0, static_cast<int>(width), y1 - y0));
  }

 private:
  void check(bool ok, const char* what) const {
    CM_REQUIRE(ok, image_.name, ": ", what, " (", errors_.message, ")");
  }

  // The guarded steps: setjmp, then libjpeg calls only; false when libjpeg failed.
  bool guarded_open() {
    if (setjmp(errors_.jump)) return false;
    jpeg_create_decompress(&cinfo_);
    jpeg_mem_src(&cinfo_, image_.data, static_cast<unsigned long>(image_.size));
    jpeg_read_header(&cinfo_, TRUE);
    return true;
  }

  bool guarded_output_dimensions() {
    if (setjmp(errors_.jump)) return false;
    jpeg_calc_output_dimensions(&cinfo_);
    return true;
  }

  bool guarded_decode(JDIMENSION* offset, JDIMENSION* width, JDIMENSION first_row,
                      JDIMENSION rows, uint8_t* out, size_t stride) {
    if (setjmp(errors_.jump)) return false;
    jpeg_start_decompress(&cinfo_);
    if (*offset > 0 || *width < cinfo_.output_width) jpeg_crop_scanline(&cinfo_, offset, width);
    if (first_row > 0) jpeg_skip_scanlines(&cinfo_, first_row);
    for (JDIMENSION r = 0; r < rows; ++r) {
      JSAMPROW row = out + r * stride;
      if (jpeg_read_scanlines(&cinfo_, &row, 1) != 1) {
        std::snprintf(errors_.message, sizeof(errors_.message), "no data for scanline %u",
                      first_row + r);
        return false;
      }
    }
    return true;
  }

  EncodedImage image_;
  jpeg_decompress_struct cinfo_;
  JpegErrors errors_{};
};

/// The smallest M in {1, 2, 4, 8} whose M/8-scaled region still covers out_size pixels on both
/// sides; 8 when even the full size does not. libjpeg-turbo 2.1 has SIMD inverse DCTs for these
/// scales only: at 5/8 a 500x375 JPEG decoded slower than at full size (1.96 against 0.82 ms).
int dct_scale(const Region& region, int out_size) {
  for (int m = 1; m < 8; m *= 2) {
    if (region.w * m >= 8.0 * out_size && region.h * m >= 8.0 * out_size) return m;
  }
  return 8;
}

/// Resamples `region` of `src` to `out` [size, size, 3]: an area shrink by an integer factor
/// first when the region is at least twice the output size, then bicubic with pixel centres
/// mapped as cv::resize maps them (cv::resize itself when the region lies on whole pixels, so an
/// exact copy when it also has the output's size), then the mirror when `flip`.
void resample(const cv::Mat& src, Region region, int size, bool flip, uint8_t* out) {
  cv::Mat image = src;
  const double fx = region.w / size, fy = region.h / size;
  if (fx >= 2 || fy >= 2) {
    const double kx = std::max(1.0, std::floor(fx)), ky = std::max(1.0, std::floor(fy));
    const cv::Size shrunk(std::max(1, static_cast<int>(std::lround(src.cols / kx))),
                          std::max(1, static_cast<int>(std::lround(src.rows / ky))));
    cv::resize(src, image, shrunk, 0, 0, cv::INTER_AREA);
    const double sx = static_cast<double>(src.cols) / shrunk.width;
    const double sy = static_cast<double>(src.rows) / shrunk.height;
    region = {region.x / sx, region.y / sy, region.w / sx, region.h / sy};
  }
  cv::Mat dst(size, size, CV_8UC3, out);
  const double ax = region.w / size, ay = region.h / size;
  const auto whole = [](double v) { return v == std::floor(v); };
  if (whole(region.x) && whole(region.y) && whole(region.w) && whole(region.h)) {
    // On whole pixels cv::resize maps the same centres, in half the time of warpAffine.
    const cv::Rect rect(static_cast<int>(region.x), static_cast<int>(region.y),
                        static_cast<int>(region.w), static_cast<int>(region.h));
    cv::resize(image(rect), dst, cv::Size(size, size), 0, 0, cv::INTER_CUBIC);
  } else {
    const cv::Matx23d inverse(ax, 0, region.x + 0.5 * ax - 0.5, 0, ay, region.y + 0.5 * ay - 0.5);
    cv::warpAffine(image, dst, inverse, cv::Size(size, size),
                   cv::INTER_CUBIC | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  }
  if (flip) cv::flip(dst, dst, 1);
}

/// Decodes `region` (full-size pixels) of a JPEG that libjpeg turns into RGB, at the smallest
/// DCT scale that covers it, and resamples it to `out`. Returns the scale numerator.
int decode_jpeg_region(JpegDecoder& jpeg, const Region& region, int size, bool flip,
                       uint8_t* out) {
  const int m = dct_scale(region, size);
  jpeg.set_scale(m);
  const double s = m / 8.0;
  const Region scaled{region.x * s, region.y * s, region.w * s, region.h * s};
  const int width = static_cast<int>(jpeg.info().output_width);
  const int height = static_cast<int>(jpeg.info().output_height);
  const int x0 = std::max(0, static_cast<int>(std::floor(scaled.x)) - kMargin);
  const int y0 = std::max(0, static_cast<int>(std::floor(scaled.y)) - kMargin);
  const int x1 = std::min(width, static_cast<int>(std::ceil(scaled.x + scaled.w)) + kMargin);
  const int y1 = std::min(height, static_cast<int>(std::ceil(scaled.y + scaled.h)) + kMargin);
  int first_column = 0;
  const cv::Mat pixels = jpeg.decode(x0, x1, y0, y1, &first_column);
  resample(pixels, {scaled.x - first_column, scaled.y - y0, scaled.w, scaled.h}, size, flip, out);
  return m;
}

void check_out_size(const EncodedImage& image, int out_size) {
  CM_REQUIRE(out_size > 0, image.name, ": output size ", out_size, " must be > 0");
}

/// Decodes `image` and writes the region that `region_of(width, height)` gives for its size.
template <typename RegionOf>
int decode_region(const EncodedImage& image, int size, bool flip, const RegionOf& region_of,
                  uint8_t* out) {
  CM_REQUIRE(image.data != nullptr && image.size > 0, image.name, ": empty image data");
  if (is_jpeg(image)) {
    JpegDecoder jpeg(image);
    if (jpeg.converts_to_rgb()) {
      const Region region = region_of(static_cast<int>(jpeg.info().image_width),
                                      static_cast<int>(jpeg.info().image_height));
      return decode_jpeg_region(jpeg, region, size, flip, out);
    }
  }
  const cv::Mat decoded = decode_with_opencv(image);
  resample(decoded, region_of(decoded.cols, decoded.rows), size, flip, out);
  return 8;
}

}  // namespace

ImageHeader read_image_header(const EncodedImage& image) {
  CM_REQUIRE(image.data != nullptr && image.size > 0, image.name, ": empty image data");
  if (is_png(image)) return png_header(image);
  if (is_jpeg(image)) {
    const JpegDecoder jpeg(image);
    const jpeg_decompress_struct& info = jpeg.info();
    return {static_cast<int>(info.image_width), static_cast<int>(info.image_height),
            info.num_components, ImageFormat::jpeg};
  }
  const cv::Mat decoded = decode_with_opencv(image);
  return {decoded.cols, decoded.rows, 3, ImageFormat::other};
}

int decode_crop(const EncodedImage& image, const CropBox& box, int out_size, uint8_t* out) {
  check_out_size(image, out_size);
  return decode_region(image, out_size, box.flipped, [&](int width, int height) {
    CM_REQUIRE(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
                   box.top + box.height <= height && box.left + box.width <= width,
               image.name, ": crop box (top ", box.top, ", left ", box.left, ", ", box.height,
               "x", box.width, ") does not lie in the ", height, "x", width, " image");
    return Region{static_cast<double>(box.left), static_cast<double>(box.top),
                  static_cast<double>(box.width), static_cast<double>(box.height)};
  }, out);
}

DecodedCrop decode_crop(const EncodedImage& image, const CropBox& box, int out_size) {
  check_out_size(image, out_size);
  DecodedCrop crop;
  crop.size = out_size;
  crop.pixels.resize(3 * static_cast<size_t>(out_size) * out_size);
  crop.scale = decode_crop(image, box, out_size, crop.pixels.data());
  return crop;
}

int decode_eval(const EncodedImage& image, int out_size, float crop_ratio, uint8_t* out) {
  check_out_size(image, out_size);
  CM_REQUIRE(crop_ratio > 0 && crop_ratio <= 1, image.name, ": crop ratio ", crop_ratio,
             " must lie in (0, 1]");
  const auto resize = static_cast<int64_t>(out_size / static_cast<double>(crop_ratio));
  return decode_region(image, out_size, false, [&](int width, int height) {
    const int64_t shorter = std::min(width, height), longer = std::max(width, height);
    const int64_t resized_long = resize * longer / shorter;
    const double new_w = static_cast<double>(width <= height ? resize : resized_long);
    const double new_h = static_cast<double>(width <= height ? resized_long : resize);
    const double top = std::nearbyint((new_h - out_size) / 2);
    const double left = std::nearbyint((new_w - out_size) / 2);
    const double sx = width / new_w, sy = height / new_h;
    return Region{left * sx, top * sy, out_size * sx, out_size * sy};
  }, out);
}

DecodedCrop decode_eval(const EncodedImage& image, int out_size, float crop_ratio) {
  check_out_size(image, out_size);
  DecodedCrop crop;
  crop.size = out_size;
  crop.pixels.resize(3 * static_cast<size_t>(out_size) * out_size);
  crop.scale = decode_eval(image, out_size, crop_ratio, crop.pixels.data());
  return crop;
}

}  // namespace clustermim
