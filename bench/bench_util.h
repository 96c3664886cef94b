/*
 * What the benchmarks share: medians, running a Python reference that prints one JSON line, and
 * the per-round ratios of clustermim against its reference. Every benchmark measures the two
 * sides alternately (A B A B ...) for several rounds, so a machine that gets busier or quieter
 * during the run moves both sides of a round alike; it reports each round's pair, the median of
 * the per-round ratios and their min-max spread, since one run's ratio can swing by more than
 * the gap it is meant to show.
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

/// Which way a figure improves: images/s (`higher`) or seconds (`lower`).
enum class Better { higher, lower };

/// The ratio of one round, above 1 when clustermim wins: ours / reference for `higher`,
/// reference / ours for `lower`.
inline double round_ratio(double ours, double reference, Better better) {
  return better == Better::higher ? ours / reference : reference / ours;
}

/// Writes `key` (the median of the per-round ratios), `key`_spread ([min, max] of them) and
/// `key`_rounds (each round's {"ours", "reference", "ratio"}) into `out`; returns the median.
/// `ours` and `reference` hold one figure per round, in the order they were measured.
inline double add_ratio(nlohmann::json& out, const std::string& key,
                        const std::vector<double>& ours, const std::vector<double>& reference,
                        Better better) {
  CM_REQUIRE(!ours.empty() && ours.size() == reference.size(),
             "bench_util.h: ", key, " needs one reference figure per round of ours");
  std::vector<double> ratios;
  nlohmann::json rounds = nlohmann::json::array();
  for (size_t r = 0; r < ours.size(); ++r) {
    ratios.push_back(round_ratio(ours[r], reference[r], better));
    rounds.push_back({{"ours", ours[r]}, {"reference", reference[r]}, {"ratio", ratios.back()}});
  }
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  out[key] = median(ratios);
  out[key + "_spread"] = {*lo, *hi};
  out[key + "_rounds"] = rounds;
  return out[key].get<double>();
}

/// "1.23x [1.10, 1.31]": the median ratio `key` of `row` and its spread, for the printed tables.
inline std::string ratio_text(const nlohmann::json& row, const std::string& key) {
  const nlohmann::json& spread = row.at(key + "_spread");
  char text[64];
  std::snprintf(text, sizeof(text), "%.2fx [%.2f, %.2f]", row.at(key).get<double>(),
                spread[0].get<double>(), spread[1].get<double>());
  return text;
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
