/*
 * What the benchmarks share: medians and running a Python reference that prints one JSON line.
 */
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace clustermim::bench {

/// Median of `v` (mean of the two middle values for an even count).
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Peak resident memory of this process so far, in MiB.
inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

/// Runs `command` through the shell and parses what it prints as JSON.
inline nlohmann::json run_python(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  CM_REQUIRE(pipe != nullptr, "cannot run: ", command);
  std::string out;
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe.get()) != nullptr) out += buffer;
  CM_REQUIRE(!out.empty(), "reference produced no output: ", command);
  return nlohmann::json::parse(out);
}

}  // namespace clustermim::bench
