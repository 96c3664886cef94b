/*
 * Progress bar / progress log (see progress.h).
 */
#include "core/progress.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>

namespace clustermim {

namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld:%02ld", static_cast<long>(s / 3600),
                  static_cast<long>(s / 60 % 60), static_cast<long>(s % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld", static_cast<long>(s / 60),
                  static_cast<long>(s % 60));
  }
  return buffer;
}

Progress::Progress(std::string label, int64_t total, int64_t start)
    : label_(std::move(label)),
      total_(std::max<int64_t>(total, 1)),
      start_(start),
      terminal_(isatty(STDERR_FILENO) == 1),
      begin_(std::chrono::steady_clock::now()),
      last_print_(begin_) {}

std::string Progress::line(int64_t done, const std::string& status) const {
  const double elapsed = seconds_between(begin_, std::chrono::steady_clock::now());
  const int64_t run = done - start_;
  const double eta = run > 0 ? elapsed / run * (total_ - done) : 0.0;
  char head[128];
  std::snprintf(head, sizeof(head), "%s %3ld%% %ld/%ld [%s<%s]", label_.c_str(),
                static_cast<long>(100 * done / total_), static_cast<long>(done),
                static_cast<long>(total_), format_duration(elapsed).c_str(),
                format_duration(eta).c_str());
  return status.empty() ? head : std::string(head) + " " + status;
}

void Progress::update(int64_t done, const std::string& status) {
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (seconds_between(last_print_, now) < 0.2 && done < total_) return;
    last_print_ = now;
    std::fprintf(stderr, "\r\033[K%s", line(done, status).c_str());
    std::fflush(stderr);
    return;
  }
  const int64_t percent = 100 * done / total_;
  if (percent / 10 == last_logged_percent_ / 10 && seconds_between(last_print_, now) < 60) return;
  last_logged_percent_ = percent;
  last_print_ = now;
  spdlog::info("{}", line(done, status));
}

void Progress::finish(const std::string& status) {
  if (terminal_) std::fprintf(stderr, "\r\033[K");
  spdlog::info("{} done in {}{}{}", label_,
               format_duration(seconds_between(begin_, std::chrono::steady_clock::now())),
               status.empty() ? "" : ": ", status);
}

}  // namespace clustermim
