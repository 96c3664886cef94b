/*
 * Progress reporting for long loops: a one-line bar with rate and ETA when stderr is a
 * terminal, plain log lines (every ~10 % or `log_every` seconds) otherwise, so logs of batch jobs
 * stay readable.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace clustermim {

class Progress {
 public:
  /// `total` units of work (e.g. steps); `label` prefixes every line.
  Progress(std::string label, int64_t total, int64_t start = 0);
  /// Reports `done` units finished; `status` is appended (e.g. "loss 4.12 acc 0.31").
  void update(int64_t done, const std::string& status);
  /// Ends the bar line (terminal) and logs the total time.
  void finish(const std::string& status);

 private:
  std::string line(int64_t done, const std::string& status) const;

  std::string label_;
  int64_t total_, start_;
  bool terminal_;
  std::chrono::steady_clock::time_point begin_, last_print_;
  int64_t last_logged_percent_ = -1;
};

/// "1:02:03" or "4:05".
std::string format_duration(double seconds);

}  // namespace clustermim
