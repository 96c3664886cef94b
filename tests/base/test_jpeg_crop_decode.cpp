/*
 * Tests of crop-aware decoding (data/jpeg_crop_decode.h): headers of JPEG and PNG, the DCT
 * scale chosen, crops and the evaluation crop against a full-size decode -> crop -> resize
 * reference, exact copies and mirrors, grayscale, progressive and CMYK JPEGs, PNG, and the errors
 * on corrupt, truncated and random data. Every image is encoded here with OpenCV or TurboJPEG.
 */
#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cmath>
#include <cstdint>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/data_test_util.h"
#include "data/jpeg_crop_decode.h"

namespace clustermim {
namespace {

using test::error_message;

/// A smooth RGB image [h, w, 3] (sines across the image) with +-3 levels of noise.
cv::Mat smooth_rgb(int h, int w, uint64_t seed) {
  std::mt19937_64 rng(seed);
  cv::Mat image(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      auto* p = image.ptr<uint8_t>(y, x);
      const double base[3] = {128 + 90 * std::sin(x / 37.0) * std::cos(y / 29.0),
                              128 + 80 * std::cos((x + y) / 53.0), 60 + 0.3 * x + 0.2 * y};
      for (int c = 0; c < 3; ++c) {
        p[c] = cv::saturate_cast<uint8_t>(base[c] + static_cast<int>(rng() % 7) - 3);
      }
    }
  }
  return image;
}

/// Encodes an RGB (or gray) image with OpenCV: ".jpg" or ".png".
std::vector<uint8_t> encode(const cv::Mat& image, const std::string& ext,
                            std::vector<int> params = {}) {
  cv::Mat bgr;
  if (image.channels() == 3) {
    cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = image;
  }
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(ext, bgr, bytes, params));
  return bytes;
}

std::vector<uint8_t> jpeg(const cv::Mat& image, bool progressive = false) {
  return encode(image, ".jpg",
                {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0});
}

EncodedImage view(const std::vector<uint8_t>& bytes, std::string_view name = "sample.jpg") {
  return {bytes.data(), bytes.size(), name};
}

/// The full-size decode (OpenCV) as RGB [H, W, 3].
cv::Mat full_decode(const std::vector<uint8_t>& bytes) {
  cv::Mat image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  cv::cvtColor(image, image, cv::COLOR_BGR2RGB);
  return image;
}

/// The reference crop: full decode -> crop -> bicubic resize (apply_crop's way) -> mirror.
cv::Mat reference_crop(const std::vector<uint8_t>& bytes, const CropBox& box, int size) {
  const cv::Mat full = full_decode(bytes);
  cv::Mat out;
  cv::resize(full(cv::Rect(box.left, box.top, box.width, box.height)), out, cv::Size(size, size),
             0, 0, cv::INTER_CUBIC);
  if (box.flipped) cv::flip(out, out, 1);
  return out;
}

cv::Mat as_mat(const DecodedCrop& crop) {
  return cv::Mat(crop.size, crop.size, CV_8UC3, const_cast<uint8_t*>(crop.pixels.data()));
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  const cv::Scalar d = cv::mean(cv::abs(a - b) + cv::abs(b - a));
  return (d[0] + d[1] + d[2]) / 3;
}

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }

class JpegCropDecode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    photo_ = new cv::Mat(smooth_rgb(375, 500, 1));
    photo_jpeg_ = new std::vector<uint8_t>(jpeg(*photo_));
  }
  static void TearDownTestSuite() {
    delete photo_;
    delete photo_jpeg_;
  }
  static cv::Mat* photo_;
  static std::vector<uint8_t>* photo_jpeg_;
};
cv::Mat* JpegCropDecode::photo_ = nullptr;
std::vector<uint8_t>* JpegCropDecode::photo_jpeg_ = nullptr;

TEST_F(JpegCropDecode, HeadersOfJpegGrayPngAndOtherFormats) {
  const ImageHeader h = read_image_header(view(*photo_jpeg_));
  EXPECT_EQ(h.width, 500);
  EXPECT_EQ(h.height, 375);
  EXPECT_EQ(h.channels, 3);
  EXPECT_EQ(h.format, ImageFormat::jpeg);

  cv::Mat gray;
  cv::cvtColor(*photo_, gray, cv::COLOR_RGB2GRAY);
  const ImageHeader g = read_image_header(view(jpeg(gray)));
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.width, 500);

  const ImageHeader p = read_image_header(view(encode((*photo_)(cv::Rect(0, 0, 123, 45)), ".png")));
  EXPECT_EQ(p.width, 123);
  EXPECT_EQ(p.height, 45);
  EXPECT_EQ(p.channels, 3);
  EXPECT_EQ(p.format, ImageFormat::png);
  EXPECT_EQ(read_image_header(view(encode(gray, ".png"))).channels, 1);

  const ImageHeader b = read_image_header(view(encode((*photo_)(cv::Rect(0, 0, 40, 30)), ".bmp")));
  EXPECT_EQ(b.width, 40);
  EXPECT_EQ(b.height, 30);
  EXPECT_EQ(b.format, ImageFormat::other);
}

TEST_F(JpegCropDecode, SmallCropMatchesFullDecodeCropResize) {
  const CropBox box{100, 150, 150, 200, false};
  const DecodedCrop crop = decode_crop(view(*photo_jpeg_), box, 64);
  EXPECT_EQ(crop.scale, 4);  // 150 * 4/8 = 75 >= 64, 150 * 2/8 = 37.5 < 64
  EXPECT_LT(mean_abs_diff(as_mat(crop), reference_crop(*photo_jpeg_, box, 64)), 3.0);
}

TEST_F(JpegCropDecode, ScaleIsTheSmallestThatCoversTheOutput) {
  // 300 * 2/8 = 75 covers 64 and 75, not 76; for 76 3/8 would, but only 1, 2, 4, 8 are used.
  EXPECT_EQ(decode_crop(view(*photo_jpeg_), {0, 0, 300, 300, false}, 64).scale, 2);
  EXPECT_EQ(decode_crop(view(*photo_jpeg_), {0, 0, 300, 300, false}, 75).scale, 2);
  EXPECT_EQ(decode_crop(view(*photo_jpeg_), {0, 0, 300, 300, false}, 76).scale, 4);
  // A crop smaller than the output: decoded at full size and enlarged.
  const CropBox tiny{200, 300, 20, 20, false};
  const DecodedCrop up = decode_crop(view(*photo_jpeg_), tiny, 64);
  EXPECT_EQ(up.scale, 8);
  EXPECT_LT(mean_abs_diff(as_mat(up), reference_crop(*photo_jpeg_, tiny, 64)), 3.0);
  // The whole 500x375 image to 64 px: 375 / 4 = 93.75 >= 64 > 375 / 8.
  const CropBox whole{0, 0, 375, 500, false};
  const DecodedCrop down = decode_crop(view(*photo_jpeg_), whole, 64);
  EXPECT_EQ(down.scale, 2);
  EXPECT_LT(mean_abs_diff(as_mat(down), reference_crop(*photo_jpeg_, whole, 64)), 3.0);
}

TEST_F(JpegCropDecode, OutputSizedCropOnWholePixelsIsAnExactCopy) {
  const cv::Mat full = full_decode(*photo_jpeg_);
  for (const CropBox box : {CropBox{0, 0, 48, 48, false}, CropBox{131, 257, 48, 48, false},
                            CropBox{327, 452, 48, 48, false}}) {
    const DecodedCrop crop = decode_crop(view(*photo_jpeg_), box, 48);
    EXPECT_EQ(crop.scale, 8);
    EXPECT_EQ(max_abs_diff(as_mat(crop), full(cv::Rect(box.left, box.top, 48, 48))), 0)
        << "box at " << box.top << "," << box.left;
  }
}

TEST_F(JpegCropDecode, FlipMirrorsExactly) {
  CropBox box{37, 61, 200, 250, false};
  const DecodedCrop plain = decode_crop(view(*photo_jpeg_), box, 56);
  box.flipped = true;
  const DecodedCrop flipped = decode_crop(view(*photo_jpeg_), box, 56);
  cv::Mat mirrored;
  cv::flip(as_mat(plain), mirrored, 1);
  EXPECT_EQ(max_abs_diff(as_mat(flipped), mirrored), 0);
  EXPECT_GT(max_abs_diff(as_mat(flipped), as_mat(plain)), 0);
}

TEST_F(JpegCropDecode, WritesIntoTheCallersBuffer) {
  const CropBox box{10, 20, 300, 400, true};
  std::vector<uint8_t> out(3 * 40 * 40);
  EXPECT_EQ(decode_crop(view(*photo_jpeg_), box, 40, out.data()), 2);
  EXPECT_EQ(out, decode_crop(view(*photo_jpeg_), box, 40).pixels);
}

TEST_F(JpegCropDecode, EvalCenterCropMatchesResizeThenCenterCrop) {
  // 64 / 0.875 = 73.1 -> shorter side 73, longer floor(73 * 500 / 375) = 97; crop at
  // top round(4.5) = 4, left round(16.5) = 16 (half to even).
  const DecodedCrop crop = decode_eval(view(*photo_jpeg_), 64);
  EXPECT_EQ(crop.scale, 2);
  cv::Mat resized;
  cv::resize(full_decode(*photo_jpeg_), resized, cv::Size(97, 73), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_abs_diff(as_mat(crop), resized(cv::Rect(16, 4, 64, 64))), 3.0);
  // Portrait, crop ratio 1: the shorter side becomes exactly the output size.
  cv::Mat portrait;
  cv::transpose(*photo_, portrait);
  const std::vector<uint8_t> bytes = jpeg(portrait);
  const DecodedCrop tall = decode_eval(view(bytes), 75, 1.0f);
  cv::resize(full_decode(bytes), resized, cv::Size(75, 100), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_abs_diff(as_mat(tall), resized(cv::Rect(0, 12, 75, 75))), 3.0);
}

TEST_F(JpegCropDecode, EvalCropRoundsHalfToEvenAsTorchvision) {
  // Width 64 = the output: no resize, full scale, so the crop is an exact copy of rows
  // [top, top + 64) with top = round((h - 64) / 2): 8.5 -> 8 and 9.5 -> 10.
  for (const auto& [height, top] : {std::pair{81, 8}, std::pair{83, 10}}) {
    const std::vector<uint8_t> bytes = jpeg((*photo_)(cv::Rect(0, 0, 64, height)).clone());
    const DecodedCrop crop = decode_eval(view(bytes), 64, 1.0f);
    EXPECT_EQ(crop.scale, 8);
    EXPECT_EQ(max_abs_diff(as_mat(crop), full_decode(bytes)(cv::Rect(0, top, 64, 64))), 0)
        << "height " << height;
  }
}

TEST_F(JpegCropDecode, LargeShrinksAverageInsteadOfAliasing) {
  // Stripes 24 px wide, 3 px at 1/8 of a 2048 px image, which still is 256 px for a 16 px
  // output: without the area shrink before the bicubic, single stripes alias into the output.
  cv::Mat stripes(1024, 2048, CV_8UC3);
  for (int x = 0; x < stripes.cols; ++x) {
    stripes.col(x).setTo(cv::Scalar::all((x / 24) % 2 ? 220 : 30));
  }
  const std::vector<uint8_t> bytes = jpeg(stripes);
  const DecodedCrop crop = decode_crop(view(bytes), {0, 0, 1024, 2048, false}, 16);
  EXPECT_EQ(crop.scale, 1);
  cv::Mat area;
  cv::resize(full_decode(bytes), area, cv::Size(16, 16), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_abs_diff(as_mat(crop), area), 4.0);
}

TEST_F(JpegCropDecode, GrayscaleJpegComesOutAsRgb) {
  cv::Mat gray;
  cv::cvtColor(*photo_, gray, cv::COLOR_RGB2GRAY);
  const std::vector<uint8_t> bytes = jpeg(gray);
  const CropBox box{50, 70, 250, 300, false};
  const DecodedCrop crop = decode_crop(view(bytes), box, 64);
  EXPECT_EQ(crop.scale, 4);
  std::vector<cv::Mat> channels;
  cv::split(as_mat(crop), channels);
  EXPECT_EQ(max_abs_diff(channels[0], channels[1]), 0);
  EXPECT_EQ(max_abs_diff(channels[0], channels[2]), 0);
  EXPECT_LT(mean_abs_diff(as_mat(crop), reference_crop(bytes, box, 64)), 3.0);
}

TEST_F(JpegCropDecode, ProgressiveJpegDecodesLikeBaseline) {
  const std::vector<uint8_t> bytes = jpeg(*photo_, true);
  const CropBox box{100, 150, 150, 200, true};
  const DecodedCrop crop = decode_crop(view(bytes), box, 64);
  EXPECT_EQ(crop.scale, 4);
  EXPECT_LT(mean_abs_diff(as_mat(crop), reference_crop(bytes, box, 64)), 3.0);
}

TEST_F(JpegCropDecode, CmykJpegGoesThroughOpenCv) {
  cv::Mat cmyk(120, 160, CV_8UC4);
  cv::Mat rgb = (*photo_)(cv::Rect(0, 0, 160, 120)).clone();
  for (int y = 0; y < cmyk.rows; ++y) {
    for (int x = 0; x < cmyk.cols; ++x) {
      const auto* p = rgb.ptr<uint8_t>(y, x);
      auto* q = cmyk.ptr<uint8_t>(y, x);
      for (int c = 0; c < 3; ++c) q[c] = p[c];  // Adobe's inverted CMYK: no ink = 255
      q[3] = 255;
    }
  }
  tjhandle tj = tjInitCompress();
  unsigned char* data = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, cmyk.data, cmyk.cols, 0, cmyk.rows, TJPF_CMYK, &data, &size, TJSAMP_444,
                        95, 0),
            0)
      << tjGetErrorStr2(tj);
  const std::vector<uint8_t> bytes(data, data + size);
  tjFree(data);
  tjDestroy(tj);
  EXPECT_EQ(read_image_header(view(bytes)).channels, 4);
  const CropBox box{10, 20, 50, 60, false};  // under 2x: bicubic alone, as the reference
  const DecodedCrop crop = decode_crop(view(bytes), box, 32);
  EXPECT_EQ(crop.scale, 8);
  EXPECT_LT(mean_abs_diff(as_mat(crop), reference_crop(bytes, box, 32)), 1.0);
  cv::Mat original;
  cv::resize(rgb(cv::Rect(box.left, box.top, box.width, box.height)), original, cv::Size(32, 32),
             0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_abs_diff(as_mat(crop), original), 3.0);
}

TEST_F(JpegCropDecode, PngIsDecodedWholeThenCropped) {
  const std::vector<uint8_t> bytes = encode(*photo_, ".png");
  const CropBox box{100, 150, 100, 90, true};  // under 2x: bicubic alone, as the reference
  const DecodedCrop crop = decode_crop(view(bytes, "a.png"), box, 64);
  EXPECT_EQ(crop.scale, 8);
  EXPECT_LT(mean_abs_diff(as_mat(crop), reference_crop(bytes, box, 64)), 1.0);
  const CropBox exact{7, 9, 64, 64, false};
  EXPECT_EQ(max_abs_diff(as_mat(decode_crop(view(bytes, "a.png"), exact, 64)),
                         (*photo_)(cv::Rect(9, 7, 64, 64))),
            0);
}

TEST_F(JpegCropDecode, TruncatedAndCorruptDataThrowWithTheName) {
  const std::vector<uint8_t>& full = *photo_jpeg_;
  const std::vector<uint8_t> truncated(full.begin(), full.begin() + full.size() * 6 / 10);
  const CropBox whole{0, 0, 375, 500, false};
  std::string message = error_message([&] { decode_crop(view(truncated, "cut.jpg"), whole, 64); });
  EXPECT_NE(message.find("cut.jpg"), std::string::npos) << message;
  EXPECT_NE(message.find("Premature end"), std::string::npos) << message;
  message = error_message([&] { decode_eval(view(truncated, "cut.jpg"), 224); });
  EXPECT_NE(message.find("cut.jpg"), std::string::npos) << message;

  const std::vector<uint8_t> header_only(full.begin(), full.begin() + 40);
  message = error_message([&] { read_image_header(view(header_only, "stub.jpg")); });
  EXPECT_NE(message.find("stub.jpg: corrupt JPEG header"), std::string::npos) << message;

  std::vector<uint8_t> corrupt = full;
  std::mt19937_64 rng(3);
  for (size_t i = corrupt.size() / 3; i < corrupt.size() / 2; ++i) corrupt[i] = rng() & 0xff;
  message = error_message([&] { decode_crop(view(corrupt, "bad.jpg"), whole, 64); });
  EXPECT_NE(message.find("bad.jpg: corrupt JPEG"), std::string::npos) << message;

  std::vector<uint8_t> noise(5000);
  for (auto& b : noise) b = rng() & 0xff;
  message = error_message([&] { decode_crop(view(noise, "noise.bin"), {0, 0, 4, 4, false}, 8); });
  EXPECT_EQ(message, "noise.bin: not a decodable image");
  EXPECT_EQ(error_message([&] { read_image_header(view(noise, "noise.bin")); }),
            "noise.bin: not a decodable image");
  noise[0] = 0xff, noise[1] = 0xd8, noise[2] = 0xff;
  message = error_message([&] { decode_crop(view(noise, "fake.jpg"), {0, 0, 4, 4, false}, 8); });
  EXPECT_EQ(message.rfind("fake.jpg: corrupt JPEG", 0), 0u) << message;

  const std::vector<uint8_t> png = encode(*photo_, ".png");
  const std::vector<uint8_t> png_cut(png.begin(), png.begin() + png.size() / 2);
  EXPECT_EQ(error_message([&] { decode_crop(view(png_cut, "cut.png"), whole, 64); }),
            "cut.png: not a decodable image");
  EXPECT_EQ(error_message([&] { read_image_header(view(std::vector<uint8_t>(png.begin(),
                                                                            png.begin() + 20),
                                                       "stub.png")); }),
            "stub.png: corrupt PNG header (no IHDR chunk)");
}

TEST_F(JpegCropDecode, BadArgumentsThrow) {
  const EncodedImage image = view(*photo_jpeg_, "p.jpg");
  EXPECT_EQ(error_message([&] { decode_crop(image, {300, 0, 100, 100, false}, 64); }),
            "p.jpg: crop box (top 300, left 0, 100x100) does not lie in the 375x500 image");
  EXPECT_EQ(error_message([&] { decode_crop(image, {0, 0, 100, 100, false}, 0); }),
            "p.jpg: output size 0 must be > 0");
  EXPECT_EQ(error_message([&] { decode_eval(image, 64, 1.5f); }),
            "p.jpg: crop ratio 1.5 must lie in (0, 1]");
  EXPECT_EQ(error_message([&] { read_image_header({nullptr, 0, "empty.jpg"}); }),
            "empty.jpg: empty image data");
}

}  // namespace
}  // namespace clustermim
