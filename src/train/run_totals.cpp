/*
 * Running totals of a pretraining run (see run_totals.h).
 */
#include "train/run_totals.h"

#include <filesystem>

#include "train/metrics_log.h"

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
  std::vector<StepRecord> kept;
  int64_t epoch = -1;
  for (const StepRecord& r : read_metrics(path)) {
    if (r.step > step) continue;
    kept.push_back(r);
    if (epoch >= 0 && r.epoch != epoch) totals.end_epoch();
    epoch = r.epoch;
    totals.add_step(r.skipped ? 0.0 : r.loss, std::isnan(r.accuracy) ? 0.0 : r.accuracy, r.skipped,
                    r.step_seconds, r.tokenize_seconds);
  }
  if (at_epoch_start) totals.end_epoch();
  if (!kept.empty() || std::filesystem::exists(path)) write_metrics(path, kept);
  return totals;
}

}  // namespace clustermim
