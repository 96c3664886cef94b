/*
 * Shared subcommand plumbing (see context.h).
 */
#include "cli/context.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "backend/runtime.h"
#include "core/error.h"
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

Dataset open_dataset(const std::string& spec, const std::string& split, const GlobalOptions& o,
                     int image_size) {
  DatasetOptions options;
  options.cache_dir = o.cache_dir;
  options.image_size = image_size;
  const auto start = std::chrono::steady_clock::now();
  Dataset d = load_dataset(spec, split, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("{} {}: {} images {}x{}x{}, {} classes ({:.1f} s)", d.name, d.split, d.size(),
               d.height, d.width, d.channels, d.num_classes(), seconds);
  CM_REQUIRE(d.skipped == 0 || !o.strict_data, d.name, " ", d.split, ": ", d.skipped,
             " corrupt samples (--strict-data makes them fatal; without it they are skipped)");
  if (d.skipped > 0) spdlog::warn("{} {}: {} corrupt samples skipped", d.name, d.split, d.skipped);
  return d;
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
