/*
 * metrics.jsonl: one JSON object per optimizer step, the schema defined here and nowhere else.
 *
 * Keys: step (steps taken, 1-based), epoch (0-based), loss (null when non-finite), acc (masked-
 * token accuracy; token targets only), lr, grad_norm (null when non-finite), img_s (images per
 * second of the step), step_s and tokenize_s (seconds), skipped (non-finite step, not applied).
 * Each record is appended with one write() of the whole line followed by fsync, so a process
 * killed at any moment leaves whole lines (at worst the last record missing); a reader still
 * skips a line that does not parse as a record rather than trust it. The pretraining loop writes
 * it, and the run totals and the report's curves read it through `read_metrics`.
 */
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace clustermim {

/// One line of metrics.jsonl.
struct StepRecord {
  int64_t step = 0;               ///< steps taken, this one included
  int64_t epoch = 0;              ///< epoch of the step (0-based)
  double loss = NAN;              ///< NaN = non-finite (written as null)
  double accuracy = NAN;          ///< masked-token accuracy in [0, 1]; NaN = not measured (absent)
  double lr = 0;                  ///< learning rate applied
  double grad_norm = NAN;         ///< gradient norm before clipping; NaN = non-finite
  double images_per_second = 0;   ///< images of the (global) batch / step_seconds
  double step_seconds = 0;        ///< wall time of the step
  double tokenize_seconds = 0;    ///< of which the tokenizer
  bool skipped = false;           ///< non-finite loss or gradient: the update was not applied
};

/// The record as one line of JSON, without the newline.
std::string format_step_record(const StepRecord& record);

/// The record on `line`; nullopt when the line is not a record (torn, foreign, empty).
std::optional<StepRecord> parse_step_record(const std::string& line);

/// Every record of the file at `path`, in file order (a missing file gives none).
std::vector<StepRecord> read_metrics(const std::string& path);

/// Replaces the file at `path` with `records` (atomic).
void write_metrics(const std::string& path, const std::vector<StepRecord>& records);

/// Appends records to a metrics file: one write() + fsync per record.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  /// Opens `path` for appending (created when missing); Error naming it on failure.
  explicit MetricsWriter(const std::string& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  bool is_open() const { return fd_ >= 0; }
  /// Appends one whole line and syncs it to disk; on failure (a full disk) removes what was
  /// written of it and throws Error naming the file.
  void append(const StepRecord& record);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace clustermim
