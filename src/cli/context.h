/*
 * What every subcommand shares: global options (threads, device, cache, log level), dataset
 * opening with timing, and the small output helpers (aligned tables, JSON files).
 */
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/torch_pch.h"
#include "data/dataset.h"

namespace clustermim {

/// Options given before or after any subcommand.
struct GlobalOptions {
  int threads = 0;                 ///< intra-op threads; 0 = all cores
  std::string device = "auto";     ///< auto | cpu | cuda[:N]
  std::string cache_dir;           ///< decoded-dataset cache ("" = default, "none" = off)
  std::string log_level = "info";  ///< trace | debug | info | warn | error
  int workers = 2;                 ///< data-loader threads (pretrain/eval/run: data.workers)
  bool workers_given = false;      ///< --workers was on the command line
  bool strict_data = false;        ///< a corrupt sample in a dataset is an error, not a skip
};

/// Adds the global options to `app` (they are accepted on every subcommand too).
void add_global_options(CLI::App& app, GlobalOptions& options);

/// Applies log level and threads; resolves the device. Call once, inside a subcommand callback.
torch::Device apply_global_options(const GlobalOptions& options);

/// load_dataset with the global cache options, logging size and time.
Dataset open_dataset(const std::string& spec, const std::string& split,
                     const GlobalOptions& options, int image_size = 0);

/// Patch size used when none is given: 4 up to 64-pixel images, else 16.
int64_t default_patch_size(int64_t image_size);

/// A text table with right-aligned columns (the first column left-aligned).
std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows);

/// "%.*f" formatting.
std::string fixed(double value, int digits);

/// Writes pretty JSON atomically to `path`.
void write_json(const std::string& path, const nlohmann::json& value);

// Subcommand registration, one per file in src/cli/.
void register_data_commands(CLI::App& app, GlobalOptions& global);
void register_tokenizer_commands(CLI::App& app, GlobalOptions& global);
void register_tcas_command(CLI::App& app, GlobalOptions& global);
void register_export_command(CLI::App& app, GlobalOptions& global);
void register_tokens_command(CLI::App& app, GlobalOptions& global);
void register_run_commands(CLI::App& app, GlobalOptions& global, const std::string& command_line);
/// `eval finetune`, under the `eval` command register_run_commands adds (call it after).
void register_finetune_command(CLI::App& app, GlobalOptions& global);

}  // namespace clustermim
