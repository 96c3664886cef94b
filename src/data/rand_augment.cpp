/*
 * RandAugment (see rand_augment.h): timm's op set and level mapping over Pillow-equivalent
 * uint8 kernels (lookup tables, blends with a degenerate image, bicubic affine resampling).
 */
#include "data/rand_augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/random_draws.h"

namespace clustermim {
namespace {

constexpr double kMaxLevel = 10.0;  // timm's _LEVEL_DENOM

using Lut = std::array<uint8_t, 256>;

struct Image {
  uint8_t* data;
  int height, width;
  int64_t values() const { return static_cast<int64_t>(height) * width * 3; }
};

/// Applies one table per channel.
void apply_luts(const Image& img, const std::array<Lut, 3>& luts) {
  for (int64_t i = 0; i < img.values(); ++i) img.data[i] = luts[i % 3][img.data[i]];
}

void apply_lut(const Image& img, const Lut& lut) { apply_luts(img, {lut, lut, lut}); }

std::array<std::array<int64_t, 256>, 3> histograms(const Image& img) {
  std::array<std::array<int64_t, 256>, 3> hist{};
  for (int64_t i = 0; i < img.values(); ++i) ++hist[i % 3][img.data[i]];
  return hist;
}

/// ImageOps.autocontrast(cutoff=0): each channel's [min, max] stretched to [0, 255].
void auto_contrast(const Image& img) {
  const auto hist = histograms(img);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    int lo = 0, hi = 255;
    while (lo < 255 && hist[c][lo] == 0) ++lo;
    while (hi > 0 && hist[c][hi] == 0) --hi;
    for (int v = 0; v < 256; ++v) {
      if (hi <= lo) {
        luts[c][v] = static_cast<uint8_t>(v);
        continue;
      }
      const double scale = 255.0 / (hi - lo);
      const int mapped = static_cast<int>(v * scale + (-lo * scale));
      luts[c][v] = static_cast<uint8_t>(std::clamp(mapped, 0, 255));
    }
  }
  apply_luts(img, luts);
}

/// ImageOps.equalize: each channel through its cumulative histogram, Pillow's step rounding.
void equalize(const Image& img) {
  const auto hist = histograms(img);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    int64_t total = 0, last = 0, used = 0;
    for (int v = 0; v < 256; ++v) {
      if (hist[c][v] == 0) continue;
      total += hist[c][v];
      last = hist[c][v];
      ++used;
    }
    const int64_t step = used <= 1 ? 0 : (total - last) / 256;
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      if (step == 0) {
        luts[c][v] = static_cast<uint8_t>(v);
        continue;
      }
      luts[c][v] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
      n += hist[c][v];
    }
  }
  apply_luts(img, luts);
}

Lut make_lut(int (*f)(int, int), int arg) {
  Lut lut;
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<uint8_t>(f(v, arg));
  return lut;
}

/// ImageEnhance: blend(degenerate, image, factor) per value, in float, clipped and truncated
/// as Pillow's ImagingBlend.
void blend_with(const Image& img, const std::vector<uint8_t>& degenerate, double factor) {
  const float alpha = static_cast<float>(factor);
  for (int64_t i = 0; i < img.values(); ++i) {
    const int d = degenerate[i];
    const float t = static_cast<float>(d) + alpha * static_cast<float>(img.data[i] - d);
    img.data[i] = t <= 0.f ? 0 : t >= 255.f ? 255 : static_cast<uint8_t>(t);
  }
}

/// Pillow's RGB -> L: (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point.
int luma(const uint8_t* rgb) { return (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16; }

void enhance_color(const Image& img, double factor) {
  std::vector<uint8_t> grey(static_cast<size_t>(img.values()));
  for (int64_t i = 0; i < img.values(); i += 3)
    grey[i] = grey[i + 1] = grey[i + 2] = static_cast<uint8_t>(luma(img.data + i));
  blend_with(img, grey, factor);
}

void enhance_contrast(const Image& img, double factor) {
  double sum = 0;
  for (int64_t i = 0; i < img.values(); i += 3) sum += luma(img.data + i);
  const int mean = static_cast<int>(sum / (img.values() / 3) + 0.5);
  blend_with(img, std::vector<uint8_t>(static_cast<size_t>(img.values()), static_cast<uint8_t>(mean)),
             factor);
}

void enhance_brightness(const Image& img, double factor) {
  blend_with(img, std::vector<uint8_t>(static_cast<size_t>(img.values()), 0), factor);
}

/// Degenerate = ImageFilter.SMOOTH (3x3, centre 5, others 1, / 13, rounded) inside, the
/// original on the one-pixel border.
void enhance_sharpness(const Image& img, double factor) {
  std::vector<uint8_t> smooth(img.data, img.data + img.values());
  const int h = img.height, w = img.width;
  for (int y = 1; y + 1 < h; ++y)
    for (int x = 1; x + 1 < w; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            sum += img.data[((static_cast<int64_t>(y) + dy) * w + x + dx) * 3 + c];
        sum += 4 * img.data[(static_cast<int64_t>(y) * w + x) * 3 + c];
        smooth[(static_cast<int64_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>(std::floor(sum / 13.0 + 0.5));
      }
  blend_with(img, smooth, factor);
}

/// Pillow's cubic through 4 samples at offset d in [0, 1) (a = -1).
double cubic(double v1, double v2, double v3, double v4, double d) {
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return v2 + d * (p2 + d * (p3 + d * p4));
}

/// Image.transform(AFFINE, m, BICUBIC, fillcolor=fill): output pixel (x, y) samples the source
/// at (m0 (x+.5) + m1 (y+.5) + m2, m3 (x+.5) + m4 (y+.5) + m5).
void affine(const Image& img, const std::array<double, 6>& m, const std::array<uint8_t, 3>& fill) {
  const std::vector<uint8_t> src(img.data, img.data + img.values());
  const int h = img.height, w = img.width;
  auto at = [&](int y, int x, int c) {
    return static_cast<double>(
        src[(static_cast<int64_t>(std::clamp(y, 0, h - 1)) * w + std::clamp(x, 0, w - 1)) * 3 + c]);
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* out = img.data + (static_cast<int64_t>(y) * w + x) * 3;
      double xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      double yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      if (!(xin >= 0 && xin < w && yin >= 0 && yin < h)) {
        std::copy(fill.begin(), fill.end(), out);
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      const int x0 = static_cast<int>(std::floor(xin)) - 1;
      const int y0 = static_cast<int>(std::floor(yin)) - 1;
      const double dx = xin - (x0 + 1), dy = yin - (y0 + 1);
      for (int c = 0; c < 3; ++c) {
        double rows[4];
        for (int r = 0; r < 4; ++r)
          rows[r] = cubic(at(y0 + r, x0, c), at(y0 + r, x0 + 1, c), at(y0 + r, x0 + 2, c),
                          at(y0 + r, x0 + 3, c), dx);
        const double v = cubic(rows[0], rows[1], rows[2], rows[3], dy);
        out[c] = v <= 0 ? 0 : v >= 255 ? 255 : static_cast<uint8_t>(v);
      }
    }
  }
}

/// Image.rotate(degrees, BICUBIC, fillcolor): counter-clockwise about the centre, same size.
void rotate(const Image& img, double degrees, const std::array<uint8_t, 3>& fill) {
  const double angle = -degrees * M_PI / 180.0;
  const double a = std::cos(angle), b = std::sin(angle), d = -std::sin(angle), e = std::cos(angle);
  const double cx = img.width / 2.0, cy = img.height / 2.0;
  affine(img, {a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy}, fill);
}

bool is_signed(RandAugmentOp op) {
  switch (op) {
    case RandAugmentOp::kAutoContrast:
    case RandAugmentOp::kEqualize:
    case RandAugmentOp::kInvert:
    case RandAugmentOp::kPosterizeIncreasing:
    case RandAugmentOp::kSolarizeIncreasing:
    case RandAugmentOp::kSolarizeAdd:
      return false;
    default:
      return true;
  }
}

}  // namespace

const char* rand_augment_op_name(RandAugmentOp op) {
  static const char* const names[kRandAugmentOpCount] = {
      "AutoContrast",        "Equalize",           "Invert",
      "Rotate",              "PosterizeIncreasing", "SolarizeIncreasing",
      "SolarizeAdd",         "ColorIncreasing",    "ContrastIncreasing",
      "BrightnessIncreasing", "SharpnessIncreasing", "ShearX",
      "ShearY",              "TranslateXRel",      "TranslateYRel"};
  const int i = static_cast<int>(op);
  CM_CHECK(i >= 0 && i < kRandAugmentOpCount, "RandAugment op ", i);
  return names[i];
}

void validate(const RandAugmentOptions& o) {
  CM_REQUIRE(o.ops >= 0, "rand_augment: ops ", o.ops, " must be >= 0");
  CM_REQUIRE(o.magnitude >= 0 && o.magnitude <= kMaxLevel, "rand_augment: magnitude ",
             o.magnitude, " must be in [0, 10]");
  CM_REQUIRE(o.magnitude_std >= 0 && std::isfinite(o.magnitude_std),
             "rand_augment: magnitude_std ", o.magnitude_std, " must be finite and >= 0");
  CM_REQUIRE(o.prob >= 0 && o.prob <= 1, "rand_augment: prob ", o.prob, " must be in [0, 1]");
  CM_REQUIRE(o.translate_pct >= 0 && o.translate_pct <= 1, "rand_augment: translate_pct ",
             o.translate_pct, " must be in [0, 1]");
}

void apply_rand_augment_op(RandAugmentOp op, double level, bool negate, uint8_t* image,
                           int height, int width, double translate_pct,
                           const std::array<uint8_t, 3>& fill) {
  CM_REQUIRE(image != nullptr && height > 0 && width > 0, "rand_augment: empty image");
  const Image img{image, height, width};
  const double frac = level / kMaxLevel;
  const double sign = negate ? -1.0 : 1.0;
  const double enhance = std::max(0.1, 1.0 + sign * frac * 0.9);
  switch (op) {
    case RandAugmentOp::kAutoContrast: return auto_contrast(img);
    case RandAugmentOp::kEqualize: return equalize(img);
    case RandAugmentOp::kInvert:
      return apply_lut(img, make_lut([](int v, int) { return 255 - v; }, 0));
    case RandAugmentOp::kRotate: return rotate(img, sign * frac * 30.0, fill);
    case RandAugmentOp::kPosterizeIncreasing: {
      const int bits = 4 - static_cast<int>(frac * 4);
      return apply_lut(img, make_lut([](int v, int keep) { return v & ~((1 << (8 - keep)) - 1); },
                                     bits));
    }
    case RandAugmentOp::kSolarizeIncreasing: {
      const int threshold = 256 - std::min(256, static_cast<int>(frac * 256));
      return apply_lut(img, make_lut([](int v, int t) { return v < t ? v : 255 - v; }, threshold));
    }
    case RandAugmentOp::kSolarizeAdd: {
      const int add = std::min(128, static_cast<int>(frac * 110));
      return apply_lut(img, make_lut([](int v, int a) { return v < 128 ? std::min(255, v + a) : v; },
                                     add));
    }
    case RandAugmentOp::kColorIncreasing: return enhance_color(img, enhance);
    case RandAugmentOp::kContrastIncreasing: return enhance_contrast(img, enhance);
    case RandAugmentOp::kBrightnessIncreasing: return enhance_brightness(img, enhance);
    case RandAugmentOp::kSharpnessIncreasing: return enhance_sharpness(img, enhance);
    case RandAugmentOp::kShearX: return affine(img, {1, sign * frac * 0.3, 0, 0, 1, 0}, fill);
    case RandAugmentOp::kShearY: return affine(img, {1, 0, 0, sign * frac * 0.3, 1, 0}, fill);
    case RandAugmentOp::kTranslateXRel:
      return affine(img, {1, 0, sign * frac * translate_pct * width, 0, 1, 0}, fill);
    case RandAugmentOp::kTranslateYRel:
      return affine(img, {1, 0, 0, 0, 1, sign * frac * translate_pct * height}, fill);
  }
  CM_CHECK(false, "RandAugment op ", static_cast<int>(op));
}

void rand_augment(uint8_t* image, int height, int width, const RandAugmentOptions& options,
                  Rng& rng) {
  CM_REQUIRE(image != nullptr && height > 0 && width > 0, "rand_augment: empty image");
  std::vector<RandAugmentOp> chosen(static_cast<size_t>(std::max(options.ops, 0)));
  for (auto& op : chosen)
    op = static_cast<RandAugmentOp>(uniform_int(rng, 0, kRandAugmentOpCount - 1));
  for (const RandAugmentOp op : chosen) {
    if (options.prob < 1 && uniform01(rng) > options.prob) continue;
    double level = options.magnitude;
    if (options.magnitude_std > 0) level += options.magnitude_std * normal01(rng);
    level = std::clamp(level, 0.0, kMaxLevel);
    const bool negate = is_signed(op) && uniform01(rng) > 0.5;
    apply_rand_augment_op(op, level, negate, image, height, width, options.translate_pct,
                          options.fill);
  }
}

}  // namespace clustermim
