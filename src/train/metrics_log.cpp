/*
 * metrics.jsonl records (see metrics_log.h).
 */
#include "train/metrics_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

double number_or_nan(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

}  // namespace

std::string format_step_record(const StepRecord& r) {
  nlohmann::json line = {{"step", r.step}, {"epoch", r.epoch}, {"loss", finite_or_null(r.loss)},
                         {"lr", r.lr}, {"grad_norm", finite_or_null(r.grad_norm)},
                         {"img_s", r.images_per_second}, {"step_s", r.step_seconds},
                         {"tokenize_s", r.tokenize_seconds}, {"skipped", r.skipped}};
  if (!std::isnan(r.accuracy)) line["acc"] = r.accuracy;
  return line.dump();
}

std::optional<StepRecord> parse_step_record(const std::string& line) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto step = j.find("step"), epoch = j.find("epoch");
  if (step == j.end() || !step->is_number_integer() || epoch == j.end() ||
      !epoch->is_number_integer()) {
    return std::nullopt;
  }
  StepRecord r;
  r.step = step->get<int64_t>();
  r.epoch = epoch->get<int64_t>();
  r.loss = number_or_nan(j, "loss");
  r.accuracy = number_or_nan(j, "acc");
  r.lr = j.value("lr", 0.0);
  r.grad_norm = number_or_nan(j, "grad_norm");
  r.images_per_second = j.value("img_s", 0.0);
  r.step_seconds = j.value("step_s", 0.0);
  r.tokenize_seconds = j.value("tokenize_s", 0.0);
  r.skipped = j.value("skipped", false) || std::isnan(r.loss);
  return r;
}

std::vector<StepRecord> read_metrics(const std::string& path) {
  std::vector<StepRecord> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (auto r = parse_step_record(line)) records.push_back(*r);
  }
  return records;
}

void write_metrics(const std::string& path, const std::vector<StepRecord>& records) {
  std::string text;
  for (const StepRecord& r : records) text += format_step_record(r) + "\n";
  write_file_atomic(path, text);
}

MetricsWriter::MetricsWriter(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  CM_REQUIRE(fd_ >= 0, path, ": cannot open for appending (", std::strerror(errno), ")");
}

MetricsWriter::~MetricsWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsWriter::append(const StepRecord& record) {
  const std::string line = format_step_record(record) + "\n";
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  const ssize_t written = ::write(fd_, line.data(), line.size());
  if (written == static_cast<ssize_t>(line.size()) && ::fsync(fd_) == 0) return;
  const std::string reason = written < 0 ? std::strerror(errno) : "short write";
  if (before >= 0 && ::ftruncate(fd_, before) != 0) {  // keep whole lines only
    fail(path_, ": metrics record of step ", record.step, " not written (", reason,
         ") and the partial line could not be removed");
  }
  fail(path_, ": metrics record of step ", record.step, " not written (", reason, ")");
}

}  // namespace clustermim
