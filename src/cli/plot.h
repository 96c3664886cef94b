/*
 * Line charts as PNG (OpenCV drawing), for training curves in reports: one panel per quantity,
 * one coloured line per run, axes with their ranges, a legend.
 */
#pragma once

#include <string>
#include <vector>

namespace clustermim {

/// One line: y against x.
struct Series {
  std::string name;
  std::vector<double> x, y;
};

/// One chart.
struct Panel {
  std::string title;
  std::string x_label;
  std::vector<Series> series;
};

/// Draws the panels side by side and writes a PNG atomically.
void save_line_chart_png(const std::string& path, const std::vector<Panel>& panels);

/// Trailing moving average over `window` points (shorter at the start).
std::vector<double> moving_average(const std::vector<double>& values, size_t window);

}  // namespace clustermim
