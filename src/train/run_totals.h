/*
 * Running totals of a pretraining run: time in training steps, time of the tokenizer, and the
 * mean loss / masked-token accuracy of the last finished epoch. They are kept step by step and,
 * when a run resumes, rebuilt from the run's metrics file, so what a finished run reports does
 * not depend on how often it was stopped (a finished run invoked again reports the same figures).
 */
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace clustermim {

/// Totals over every step of a run, across resumed invocations.
struct RunTotals {
  double train_seconds = 0;     ///< time in training steps (excludes start-up and pauses)
  double tokenize_seconds = 0;  ///< time of the tokenizer within those steps
  int64_t steps = 0;            ///< steps timed, skipped ones included
  double last_loss = NAN;       ///< mean loss over the last finished epoch's good steps
  double last_accuracy = NAN;   ///< mean masked-token accuracy there (0 for pixel targets)

  /// Adds one step; a skipped (non-finite) step counts for time, not for the means.
  void add_step(double loss, double accuracy, bool skipped, double step_seconds,
                double tokenizer_seconds);
  /// Closes the current epoch: its means become last_loss / last_accuracy (no-op without good
  /// steps, so a run that stops mid-epoch can close its partial epoch the same way).
  void end_epoch();

 private:
  double epoch_loss_ = 0, epoch_accuracy_ = 0;
  int64_t epoch_steps_ = 0;
};

/// Drops the records of the metrics file at `path` (train/metrics_log.h) past `step` (a resumed run rewrites what came
/// after its checkpoint) and rebuilds the totals from the lines kept. `at_epoch_start`: the
/// checkpoint sits at an epoch boundary, so the epoch of the last line kept is finished. A
/// missing file gives empty totals.
RunTotals replay_metrics(const std::string& path, int64_t step, bool at_epoch_start);

}  // namespace clustermim
