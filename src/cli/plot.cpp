/*
 * PNG line charts (see plot.h).
 */
#include "cli/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

constexpr int kWidth = 560, kHeight = 380, kLeft = 70, kRight = 20, kTop = 40, kBottom = 50;
const cv::Scalar kColors[] = {{200, 90, 30}, {40, 40, 220}, {40, 160, 40}, {160, 60, 160},
                              {20, 160, 200}, {90, 90, 90}};

std::string short_number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3g", v);
  return buffer;
}

void text(cv::Mat& img, const std::string& s, cv::Point at, double scale = 0.45) {
  cv::putText(img, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, {0, 0, 0}, 1, cv::LINE_AA);
}

void draw_panel(cv::Mat& img, const Panel& panel) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series& s : panel.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      y0 = std::min(y0, s.y[i]);
      y1 = std::max(y1, s.y[i]);
    }
  }
  text(img, panel.title, {kLeft, 24}, 0.55);
  const cv::Rect plot(kLeft, kTop, kWidth - kLeft - kRight, kHeight - kTop - kBottom);
  cv::rectangle(img, plot, {0, 0, 0});
  if (!(x1 > x0)) x1 = x0 + 1;
  if (!(y1 > y0)) y1 = y0 + 1;
  if (!std::isfinite(x0)) return;
  auto px = [&](double x) { return plot.x + static_cast<int>((x - x0) / (x1 - x0) * plot.width); };
  auto py = [&](double y) {
    return plot.y + plot.height - static_cast<int>((y - y0) / (y1 - y0) * plot.height);
  };
  text(img, short_number(y1), {4, plot.y + 10});
  text(img, short_number(y0), {4, plot.y + plot.height});
  text(img, short_number(x0), {plot.x, plot.y + plot.height + 18});
  text(img, short_number(x1), {plot.x + plot.width - 40, plot.y + plot.height + 18});
  text(img, panel.x_label, {plot.x + plot.width / 2 - 20, plot.y + plot.height + 38});
  for (size_t k = 0; k < panel.series.size(); ++k) {
    const Series& s = panel.series[k];
    const cv::Scalar color = kColors[k % std::size(kColors)];
    std::vector<cv::Point> points;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (std::isfinite(s.y[i])) points.emplace_back(px(s.x[i]), py(s.y[i]));
    }
    cv::polylines(img, points, false, color, 2, cv::LINE_AA);
    const int ly = plot.y + 16 + 18 * static_cast<int>(k);
    cv::line(img, {plot.x + plot.width - 150, ly - 4}, {plot.x + plot.width - 130, ly - 4}, color, 2);
    text(img, s.name, {plot.x + plot.width - 124, ly});
  }
}

}  // namespace

std::vector<double> moving_average(const std::vector<double>& values, size_t window) {
  std::vector<double> out(values.size());
  double sum = 0;
  size_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    sum += values[i];
    ++count;
    if (count > window) {
      sum -= values[i - window];
      --count;
    }
    out[i] = sum / static_cast<double>(count);
  }
  return out;
}

void save_line_chart_png(const std::string& path, const std::vector<Panel>& panels) {
  CM_REQUIRE(!panels.empty(), path, ": nothing to plot");
  cv::Mat img(kHeight, kWidth * static_cast<int>(panels.size()), CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t i = 0; i < panels.size(); ++i) {
    cv::Mat roi = img(cv::Rect(kWidth * static_cast<int>(i), 0, kWidth, kHeight));
    draw_panel(roi, panels[i]);
  }
  std::vector<uint8_t> png;
  CM_REQUIRE(cv::imencode(".png", img, png), path, ": PNG encoding failed");
  write_file_atomic(path, png.data(), png.size());
}

}  // namespace clustermim
