/*
 * Token pictures (see token_picture.h).
 */
#include "cli/token_picture.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

const cv::Scalar kInk{30, 30, 30}, kWhite{255, 255, 255};
constexpr int kCell = 96;     ///< drawn side of a sample image and of its token map
constexpr int kPatch = 28;    ///< drawn side of one mosaic patch (without its frame)
constexpr int kLegend = 16;   ///< tokens in the legend

/// A distinct, stable colour for token or class `id` (golden-ratio hue steps), BGR.
cv::Scalar colour(int64_t id, int saturation = 200) {
  const double hue = std::fmod(static_cast<double>(id) * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, saturation, 225)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])};
}

/// At most `count` items of `items`, evenly spaced (all when there are fewer).
template <typename T>
std::vector<T> evenly_spaced(const std::vector<T>& items, int64_t count) {
  if (static_cast<int64_t>(items.size()) <= count) return items;
  std::vector<T> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(items[i * items.size() / count]);
  return out;
}

void text(cv::Mat& img, const std::string& s, int x, int y, double scale = 0.45) {
  cv::putText(img, s, {x, y}, cv::FONT_HERSHEY_SIMPLEX, scale, kInk, 1, cv::LINE_AA);
}

/// Dataset row `index` as a BGR image of side `size`.
cv::Mat image_bgr(const Dataset& d, int64_t index, int64_t size) {
  const int type = d.channels == 1 ? CV_8UC1 : CV_8UC3;
  const cv::Mat raw(static_cast<int>(d.height), static_cast<int>(d.width), type,
                    const_cast<uint8_t*>(d.pixels.data() + index * d.image_bytes()));
  cv::Mat bgr;
  cv::cvtColor(raw, bgr, d.channels == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_RGB2BGR);
  if (bgr.rows != size) cv::resize(bgr, bgr, {static_cast<int>(size), static_cast<int>(size)}, 0, 0, cv::INTER_AREA);
  return bgr;
}

cv::Mat upscale(const cv::Mat& img, int side) {
  cv::Mat out;
  cv::resize(img, out, {side, side}, 0, 0, cv::INTER_NEAREST);
  return out;
}

cv::Mat token_map(const TokenPictureInput& in, int64_t row) {
  const int64_t grid = in.image_size / in.patch_size;
  cv::Mat map(kCell, kCell, CV_8UC3, kWhite);
  const double cell = static_cast<double>(kCell) / grid;
  for (int64_t j = 0; j < grid * grid; ++j) {
    const int64_t t = in.tokens[row * grid * grid + j];
    const cv::Point a(static_cast<int>(std::lround((j % grid) * cell)), static_cast<int>(std::lround((j / grid) * cell)));
    const cv::Point b(static_cast<int>(std::lround((j % grid + 1) * cell)) - 1, static_cast<int>(std::lround((j / grid + 1) * cell)) - 1);
    cv::rectangle(map, a, b, colour(t), cv::FILLED);
  }
  return map;
}

void paste(cv::Mat& canvas, const cv::Mat& img, int x, int y) {
  img.copyTo(canvas(cv::Rect(x, y, img.cols, img.rows)));
}

int draw_samples(cv::Mat& canvas, const TokenPictureInput& in, int y) {
  const int per_row = 4, pair = 2 * kCell + 24;
  for (size_t i = 0; i < in.shown.size(); ++i) {
    const int64_t row = in.shown[i];
    const int x = 10 + static_cast<int>(i % per_row) * pair, yy = y + static_cast<int>(i / per_row) * (kCell + 26);
    const int64_t index = in.images[row];
    paste(canvas, upscale(image_bgr(*in.dataset, index, in.image_size), kCell), x, yy);
    paste(canvas, token_map(in, row), x + kCell + 4, yy);
    if (!in.dataset->classes.empty())
      text(canvas, in.dataset->classes[in.dataset->labels[index]], x, yy + kCell + 16);
  }
  return y + static_cast<int>((in.shown.size() + per_row - 1) / per_row) * (kCell + 26);
}

int draw_legend(cv::Mat& canvas, const std::vector<int64_t>& order, const std::vector<int64_t>& count,
                int64_t total, int y) {
  text(canvas, "most frequent tokens (share of patches):", 10, y + 14);
  for (int i = 0; i < kLegend && i < static_cast<int>(order.size()); ++i) {
    const int x = 10 + (i % 8) * 110, yy = y + 24 + (i / 8) * 22;
    cv::rectangle(canvas, {x, yy}, {x + 16, yy + 16}, colour(order[i]), cv::FILLED);
    char label[48];
    std::snprintf(label, sizeof(label), "%lld: %.1f%%", static_cast<long long>(order[i]),
                  100.0 * count[order[i]] / std::max<int64_t>(total, 1));
    text(canvas, label, x + 22, yy + 13, 0.42);
  }
  return y + 24 + 2 * 22 + 10;
}

int draw_mosaic(cv::Mat& canvas, const TokenPictureInput& in, int64_t token, int64_t total, int y) {
  const Dataset& d = *in.dataset;
  const int64_t grid = in.image_size / in.patch_size, per_image = grid * grid;
  std::vector<int64_t> per_class(d.classes.size(), 0);  // empty for unlabeled images
  std::vector<std::pair<int64_t, int64_t>> members;  // (row, patch)
  for (size_t r = 0; r < in.images.size(); ++r) {
    for (int64_t j = 0; j < per_image; ++j) {
      if (in.tokens[r * per_image + j] != token) continue;
      if (!per_class.empty()) ++per_class[d.labels[in.images[r]]];
      members.emplace_back(r, j);
    }
  }
  const auto n = static_cast<int64_t>(members.size());
  members = evenly_spaced(members, in.patches_per_token);  // across the pool, not its first rows
  cv::rectangle(canvas, {10, y + 4}, {26, y + 20}, colour(token), cv::FILLED);
  char share[32];
  std::snprintf(share, sizeof(share), "%.1f%%", 100.0 * n / std::max<int64_t>(total, 1));
  std::string head = "token " + std::to_string(token) + ": " + share + " of patches;";
  std::vector<size_t> cls(per_class.size());
  std::iota(cls.begin(), cls.end(), 0);
  std::sort(cls.begin(), cls.end(), [&](size_t a, size_t b) { return per_class[a] > per_class[b]; });
  for (size_t i = 0; i < 3 && i < cls.size() && per_class[cls[i]] > 0; ++i) {
    head += " " + d.classes[cls[i]] + " " + std::to_string(100 * per_class[cls[i]] / std::max<int64_t>(n, 1)) + "%";
  }
  text(canvas, head, 32, y + 17);
  int x = 10;  // class-mix bar: one segment per class, in class colours
  for (size_t c = 0; c < per_class.size(); ++c) {
    const int w = static_cast<int>(std::lround(200.0 * per_class[c] / std::max<int64_t>(n, 1)));
    if (w > 0) cv::rectangle(canvas, {x, y + 26}, {x + w - 1, y + 34}, colour(1000 + c, 160), cv::FILLED);
    x += w;
  }
  for (size_t m = 0; m < members.size(); ++m) {
    const auto [r, j] = members[m];
    const int64_t index = in.images[r];
    const cv::Mat img = image_bgr(d, index, in.image_size);
    const cv::Rect box(static_cast<int>((j % grid) * in.patch_size), static_cast<int>((j / grid) * in.patch_size),
                       static_cast<int>(in.patch_size), static_cast<int>(in.patch_size));
    const int px = 10 + static_cast<int>(m) * (kPatch + 6), py = y + 40;
    const cv::Scalar frame = per_class.empty() ? cv::Scalar(160, 160, 160) : colour(1000 + d.labels[index], 160);
    cv::rectangle(canvas, {px, py}, {px + kPatch + 3, py + kPatch + 3}, frame, cv::FILLED);
    paste(canvas, upscale(img(box), kPatch), px + 2, py + 2);
  }
  return y + 40 + kPatch + 14;
}

int draw_class_key(cv::Mat& canvas, const Dataset& d, int y) {
  if (d.classes.empty()) return y;  // unlabeled: grey frames, no class mix
  text(canvas, "frame and bar colours = class:", 10, y + 14);
  for (size_t c = 0; c < d.classes.size(); ++c) {
    const int x = 250 + static_cast<int>(c % 6) * 110, yy = y + 2 + static_cast<int>(c / 6) * 20;
    cv::rectangle(canvas, {x, yy}, {x + 14, yy + 14}, colour(1000 + c, 160), cv::FILLED);
    text(canvas, d.classes[c].substr(0, 12), x + 18, yy + 12, 0.42);
  }
  return y + 10 + static_cast<int>((d.classes.size() + 5) / 6) * 20;
}

}  // namespace

std::vector<int64_t> tokens_by_frequency(const std::vector<int64_t>& tokens, int64_t vocab) {
  std::vector<int64_t> count(vocab, 0), order(vocab);
  for (int64_t t : tokens) ++count[t];
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return count[a] > count[b]; });
  return order;
}

void save_token_picture(const TokenPictureInput& in, const std::string& path) {
  CM_CHECK(in.dataset != nullptr && in.patch_size > 0 && in.image_size % in.patch_size == 0);
  const int64_t per_image = (in.image_size / in.patch_size) * (in.image_size / in.patch_size);
  CM_CHECK(static_cast<int64_t>(in.tokens.size()) == static_cast<int64_t>(in.images.size()) * per_image);
  std::vector<int64_t> count(in.vocab, 0);
  for (int64_t t : in.tokens) ++count[t];
  const auto order = tokens_by_frequency(in.tokens, in.vocab);
  const int64_t total = static_cast<int64_t>(in.tokens.size());

  const int rows = static_cast<int>((in.shown.size() + 3) / 4);
  const int width = std::max(900, 10 + static_cast<int>(in.patches_per_token) * (kPatch + 6));
  const int height = 40 + rows * (kCell + 26) + 80 + 60 + static_cast<int>(in.chosen.size()) * (40 + kPatch + 14) + 20;
  cv::Mat canvas(height, width, CV_8UC3, kWhite);
  text(canvas, in.title, 10, 22, 0.55);
  int y = draw_samples(canvas, in, 34);
  y = draw_legend(canvas, order, count, total, y);
  y = draw_class_key(canvas, *in.dataset, y);
  for (int64_t token : in.chosen) y = draw_mosaic(canvas, in, token, total, y);

  std::vector<uint8_t> png;
  CM_REQUIRE(cv::imencode(".png", canvas(cv::Rect(0, 0, width, std::min(y + 10, height))), png),
             path, ": PNG encoding failed");
  write_file_atomic(path, png.data(), png.size());
}

}  // namespace clustermim
