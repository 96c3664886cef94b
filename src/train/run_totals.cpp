/*
 * Running totals of a pretraining run (see run_totals.h).
 */
#include "train/run_totals.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "io/file_util.h"

namespace clustermim {

void RunTotals::add_step(double loss, double accuracy, bool skipped, double step_seconds,
                         double tokenizer_seconds) {
  train_seconds += step_seconds;
  tokenize_seconds += tokenizer_seconds;
  ++steps;
  if (skipped) return;
  epoch_loss_ += loss;
  epoch_accuracy_ += accuracy;
  ++epoch_steps_;
}

void RunTotals::end_epoch() {
  if (epoch_steps_ == 0) return;
  last_loss = epoch_loss_ / epoch_steps_;
  last_accuracy = epoch_accuracy_ / epoch_steps_;
  epoch_loss_ = epoch_accuracy_ = 0;
  epoch_steps_ = 0;
}

RunTotals replay_metrics(const std::string& path, int64_t step, bool at_epoch_start) {
  RunTotals totals;
  std::ifstream in(path);
  if (!in.good()) return totals;
  std::string kept, line;
  int64_t epoch = -1;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("step", int64_t{0}) > step) continue;
    kept += line + "\n";
    const int64_t line_epoch = j.value("epoch", int64_t{0});
    if (epoch >= 0 && line_epoch != epoch) totals.end_epoch();
    epoch = line_epoch;
    const bool skipped =
        j.value("skipped", false) || !j.contains("loss") || !j["loss"].is_number();
    totals.add_step(skipped ? 0.0 : j["loss"].get<double>(),
                    j.contains("acc") && j["acc"].is_number() ? j["acc"].get<double>() : 0.0,
                    skipped, j.value("step_s", 0.0), j.value("tokenize_s", 0.0));
  }
  if (at_epoch_start) totals.end_epoch();
  write_file_atomic(path, kept);
  return totals;
}

}  // namespace clustermim
