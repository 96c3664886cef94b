/*
 * What every subcommand shares: global options (threads, device, cache, log level), dataset and
 * split opening with timing (the --storage switch: in memory or streamed, data/image_split.h),
 * and the small output helpers (aligned tables, JSON files).
 */
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <optional>

#include "backend/torch_pch.h"
#include "data/dataset.h"
#include "data/image_split.h"

namespace clustermim {

/// The evaluation crop of `tcas`, `tokenizer fit`, `tokens encode` and `tokens show` (fitting and
/// tokenizing): the whole center square
/// (crop ratio 1) on both storages (in memory: the identity on images decoded at the tokenizer's
/// side), so a streamed split gives the same counts from a folder, an archive or shards.
constexpr float kTokenCropRatio = 1.f;

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

/// --storage and --memory-budget-gb of the commands that take --data (data.storage and
/// data.memory_budget_gb of the run config, with the same defaults).
struct StorageArgs {
  std::string storage = storage_name(SplitOptions().storage);  ///< auto | memory | stream
  double memory_budget_gb = SplitOptions().memory_budget_gb;   ///< auto: the most decoded GB held
};

/// Adds --storage and --memory-budget-gb to `cmd`.
void add_storage_options(CLI::App& cmd, StorageArgs& args);

/// Adds --max-bad-fraction (data.max_bad_fraction of the run config) to `cmd`, bound to `value`.
void add_max_bad_fraction_option(CLI::App& cmd, double& value);

/// open_image_split with the global cache and thread options, logging size, storage and time.
/// `image_size`: the side S the split is decoded at in memory (0 = native). With storage auto and
/// no side, the first image's shorter side stands for S in the budget (held at native size when
/// that fits). Error naming the source when a memory-held split had corrupt samples and
/// --strict-data is set.
ImageSplit open_split(const std::string& spec, const std::string& split,
                      const GlobalOptions& options, int image_size, Storage storage,
                      double memory_budget_gb);

/// open_split with `args` (Error naming --storage when it is not auto, memory or stream).
ImageSplit open_split(const std::string& spec, const std::string& split,
                      const GlobalOptions& options, int image_size, const StorageArgs& args);

/// Normalization of a split: `given` when set, else exact over a memory-held split
/// (compute_channel_stats) or estimated from a sample of `sample` images of a streamed one at side
/// `side` (0 = 224 when sizes vary).
ChannelStats split_channel_stats(const ImageSplit& split, const std::optional<ChannelStats>& given,
                                 int64_t sample, int side);

/// Normalization estimated from the same `sample` images of `split` (center squares at side
/// `side`) whether it is held in memory or streamed, so that what is fitted with it (`tcas`,
/// `tokenizer fit`) does not depend on the storage; logged.
ChannelStats sampled_channel_stats(const ImageSplit& split, int64_t sample, int side);

/// Error "<command> needs labels: <source> is unlabeled ..." when `split` has no labels.
void require_labels(const ImageSplit& split, const std::string& command);

/// What a report says about an opened split, whichever way it is held.
struct SplitInfo {
  std::string name;                  ///< short name: the dataset's, or the indexed path's last part
  std::string origin;                ///< the spec as resolved (a path, "fashion-mnist")
  std::string split;                 ///< the split actually read ("val" when "test" fell back)
  std::vector<std::string> classes;  ///< class names, index = label; empty when unlabeled
};

/// The SplitInfo of `split`.
SplitInfo split_info(const ImageSplit& split);

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
