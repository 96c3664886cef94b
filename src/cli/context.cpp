/*
 * Shared subcommand plumbing (see context.h).
 */
#include "cli/context.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "backend/runtime.h"
#include "core/error.h"
#include "data/sample_index.h"
#include "data/stream_image_source.h"
#include "io/file_util.h"

namespace clustermim {

void add_global_options(CLI::App& app, GlobalOptions& o) {
  app.add_option("--threads", o.threads, "Compute threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", o.device, "auto | cpu | cuda[:N]")->capture_default_str();
  app.add_option("--cache-dir", o.cache_dir,
                 "Decoded-dataset cache folder (default $CLUSTERMIM_CACHE or ~/.cache/clustermim; "
                 "'none' disables)");
  app.add_option("--log-level", o.log_level, "trace | debug | info | warn | error")
      ->capture_default_str();
  app.add_option("--workers", o.workers,
                 "Data-loader threads (pretrain, eval, run: overrides data.workers)")
      ->capture_default_str()
      ->each([&o](const std::string&) { o.workers_given = true; });
  app.add_flag("--strict-data", o.strict_data,
               "Stop on a corrupt sample in a dataset instead of skipping and counting it");
}

torch::Device apply_global_options(const GlobalOptions& o) {
  const auto level = spdlog::level::from_str(o.log_level);
  CM_REQUIRE(level != spdlog::level::off || o.log_level == "off", "--log-level: unknown level '",
             o.log_level, "'");
  spdlog::set_level(level);
  const int threads = configure_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  spdlog::debug("threads {}, device {}", threads, device.str());
  return device;
}

void add_storage_options(CLI::App& cmd, StorageArgs& args) {
  cmd.add_option("--storage", args.storage,
                 "auto | memory | stream: decode the split once into memory, or stream it from "
                 "its encoded images every pass (auto: memory when it fits --memory-budget-gb)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "memory", "stream"}));
  cmd.add_option("--memory-budget-gb", args.memory_budget_gb,
                 "--storage auto: the most decoded pixels held in memory, GB")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

void add_max_bad_fraction_option(CLI::App& cmd, double& value) {
  cmd.add_option("--max-bad-fraction", value,
                 "Fraction of the images read that may fail to decode (left out and named in the "
                 "log); more stop with an error")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
}

namespace {

/// The shorter side of the first of the first few samples whose header reads; 0 when none does.
int first_side(const ImageSource& source) {
  for (int64_t i = 0; i < std::min<int64_t>(source.size(), 16); ++i) {
    try {
      const ImageSize s = source.original_size(i);
      return std::min(s.height, s.width);
    } catch (const Error&) {
    }
  }
  return 0;
}

}  // namespace

ImageSplit open_split(const std::string& spec, const std::string& split, const GlobalOptions& o,
                      int image_size, Storage storage, double memory_budget_gb) {
  SplitOptions options;
  options.storage = storage;
  options.memory_budget_gb = memory_budget_gb;
  options.dataset.cache_dir = o.cache_dir;
  options.dataset.threads = o.threads;
  options.dataset.image_size = image_size;
  const auto start = std::chrono::steady_clock::now();
  if (storage == Storage::kAuto && image_size <= 0 && is_sample_source(spec)) {
    options.storage = Storage::kStream;
    ImageSplit streamed = open_image_split(spec, split, options);
    const int side = first_side(*streamed.source);
    const double gb = static_cast<double>(streamed.source->size()) * side * side * 3 / 1e9;
    if (side == 0) {
      spdlog::info("{}: no image size given and the first image does not decode: streamed",
                   streamed.source->name());
    } else if (gb > memory_budget_gb) {
      spdlog::info("{}: no image size given; about {:.2f} GB decoded at the first image's {} px, "
                   "over the memory budget {} GB: streamed",
                   streamed.source->name(), gb, side, memory_budget_gb);
    } else {
      options.storage = Storage::kMemory;
      options.dataset.image_size = side;
    }
    if (options.storage == Storage::kStream) {
      spdlog::info("{}: {} images, {}, streamed", streamed.source->name(),
                   streamed.source->size(),
                   streamed.labeled() ? std::to_string(streamed.source->num_classes()) + " classes"
                                      : "unlabeled");
      return streamed;
    }
  }
  ImageSplit s = open_image_split(spec, split, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string classes =
      s.labeled() ? std::to_string(s.source->num_classes()) + " classes" : "unlabeled";
  if (s.streamed()) {
    spdlog::info("{}: {} images, {}, streamed ({:.1f} s)", s.source->name(), s.source->size(),
                 classes, seconds);
    return s;
  }
  const Dataset& d = *s.dataset;
  spdlog::info("{} {}: {} images {}x{}x{}, {}, in memory ({:.1f} s)", d.name, d.split, d.size(),
               d.height, d.width, d.channels, classes, seconds);
  CM_REQUIRE(d.skipped == 0 || !o.strict_data, d.name, " ", d.split, ": ", d.skipped,
             " corrupt samples (--strict-data makes them fatal; without it they are skipped)");
  if (d.skipped > 0) spdlog::warn("{} {}: {} corrupt samples skipped", d.name, d.split, d.skipped);
  return s;
}

ImageSplit open_split(const std::string& spec, const std::string& split, const GlobalOptions& o,
                      int image_size, const StorageArgs& args) {
  return open_split(spec, split, o, image_size, parse_storage(args.storage, "--storage"),
                    args.memory_budget_gb);
}

ChannelStats split_channel_stats(const ImageSplit& split, const std::optional<ChannelStats>& given,
                                 int64_t sample, int side) {
  if (given) return *given;
  if (!split.streamed()) return compute_channel_stats(*split.dataset);
  return sampled_channel_stats(split, sample, side);
}

ChannelStats sampled_channel_stats(const ImageSplit& split, int64_t sample, int side) {
  const auto start = std::chrono::steady_clock::now();
  const ChannelStats s = estimate_channel_stats(*split.source, sample, 0, side);
  spdlog::info("{}: channel statistics from {} images ({:.1f} s): mean {:.4f} {:.4f} {:.4f}, "
               "std {:.4f} {:.4f} {:.4f}",
               split.source->name(), std::min(sample, split.source->size()),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
               s.mean[0], s.mean[1], s.mean[2], s.std[0], s.std[1], s.std[2]);
  return s;
}

void require_labels(const ImageSplit& split, const std::string& command) {
  CM_REQUIRE(split.labeled(), command, " needs labels: ", split.source->name(),
             " is unlabeled (a folder without train/test/val subfolders holds one unlabeled "
             "split; put each class in its own subfolder of train/ and test/ or val/)");
}

SplitInfo split_info(const ImageSplit& split) {
  if (!split.streamed()) {
    const Dataset& d = *split.dataset;
    return {d.name, d.source, d.split, d.classes};
  }
  const SampleIndex& index = dynamic_cast<const StreamImageSource&>(*split.source).index();
  const std::string name = std::filesystem::path(index.source).filename().string();
  return {name.empty() ? index.source : name, index.source, index.split, index.classes};
}

int64_t default_patch_size(int64_t image_size) { return image_size <= 64 ? 4 : 16; }

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      out += c == 0 ? cells[c] + pad : "  " + pad + cells[c];
    }
    return out + "\n";
  };
  std::string out = line(header);
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  out += std::string(total - 2, '-') + "\n";
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

}  // namespace clustermim
