/*
 * Reports of `clustermim run`: report.json (rows, config, machine), report.md (the table with
 * the command, data, machine and wall time beside it) and curves.png (training curves).
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace clustermim {

/// CPU model, cores, LibTorch version, device (and the GPU model on CUDA), date: where a result
/// came from.
nlohmann::json describe_machine(const std::string& device);

/// Writes report.json and report.md in `out_dir`. `report` holds "rows", "config", "machine",
/// "command", "tcas", "wall_s", and with fine-tuning "finetune" ({"epochs", "from_scratch": the
/// random-init row's fine-tune top-1 or null, "gain_points": {method: points over it}}).
void write_report(const std::string& out_dir, const nlohmann::json& report);

/// The final table as text (also printed by `run`); the fine-tune columns appear when a row has
/// fine-tune scores, and the random-init row is then marked as trained from scratch.
std::string format_report_table(const nlohmann::json& rows);

/// curves.png from `<out_dir>/<method>/metrics.jsonl` of each pretrained method.
void write_training_curves(const std::string& out_dir, const std::vector<std::string>& methods);

}  // namespace clustermim
