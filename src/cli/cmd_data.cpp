/*
 * `clustermim data info`: what a dataset spec resolves to, its size, classes and statistics,
 * held in memory or streamed (--storage; a streamed split's statistics come from a sample).
 * `clustermim data shard`: any source written as WebDataset shards (see data/webdataset.h).
 */
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"
#include "cli/run_config.h"
#include "data/webdataset.h"

namespace clustermim {

namespace {

struct DataInfoArgs {
  std::string data = "fashion-mnist";
  std::string split = "train";
  std::string json;
  bool per_class = false;
  StorageArgs storage;
};

/// Images per class of `source` (labels only: nothing is decoded); empty when unlabeled.
std::vector<int64_t> count_per_class(const ImageSource& source) {
  std::vector<int64_t> per_class(static_cast<size_t>(source.num_classes()), 0);
  if (per_class.empty()) return per_class;
  for (int64_t i = 0; i < source.size(); ++i) ++per_class[static_cast<size_t>(source.label(i))];
  return per_class;
}

void run_data_info(const DataInfoArgs& args, const GlobalOptions& global) {
  apply_global_options(global);
  const ImageSplit split = open_split(args.data, args.split, global, 0, args.storage);
  if (args.per_class) require_labels(split, "data info --per-class");
  const ImageSource& source = *split.source;
  const ChannelStats stats = split_channel_stats(split, std::nullopt, kChannelStatsSample, 0);
  const std::vector<int64_t> per_class = count_per_class(source);
  const SplitInfo info = split_info(split);
  const std::vector<std::string>& classes = info.classes;
  const std::string shape =
      split.streamed() ? "images of any size, streamed"
                       : std::to_string(split.dataset->height) + "x" +
                             std::to_string(split.dataset->width) + "x" +
                             std::to_string(split.dataset->channels) + " uint8, in memory";
  const std::string& origin = info.origin;
  std::cout << "dataset  " << info.name << " (" << info.split << ")\n"
            << "source   " << origin << "\n"
            << "images   " << source.size() << " x " << shape << "\n"
            << "classes  " << (split.labeled() ? std::to_string(source.num_classes()) : "unlabeled")
            << "\n"
            << "mean     " << fixed(stats.mean[0], 4) << " " << fixed(stats.mean[1], 4) << " "
            << fixed(stats.mean[2], 4) << "\n"
            << "std      " << fixed(stats.std[0], 4) << " " << fixed(stats.std[1], 4) << " "
            << fixed(stats.std[2], 4)
            << (split.streamed() ? " (estimated from a sample of the images)" : "") << "\n";
  if (!split.streamed()) {
    std::cout << "skipped  " << split.dataset->skipped << " corrupt samples\n";
  }
  if (args.per_class) {
    std::vector<std::vector<std::string>> rows;
    for (size_t c = 0; c < per_class.size(); ++c) {
      rows.push_back({std::to_string(c), c < classes.size() ? classes[c] : std::to_string(c),
                      std::to_string(per_class[c])});
    }
    std::cout << "\n" << format_table({"label", "class", "images"}, rows);
  }

  if (!args.json.empty()) {
    nlohmann::json j = {{"name", info.name},
                        {"split", info.split},
                        {"source", origin},
                        {"storage", split.streamed() ? "stream" : "memory"},
                        {"images", source.size()},
                        {"labeled", split.labeled()},
                        {"classes", classes},
                        {"per_class", per_class},
                        {"mean", stats.mean},
                        {"std", stats.std}};
    if (!split.streamed()) {
      const Dataset& d = *split.dataset;
      j["shape"] = {d.height, d.width, d.channels};
      j["skipped"] = d.skipped;
    }
    write_json(args.json, j);
  }
}

struct DataShardArgs {
  std::string source;
  std::string out;
  std::string split = "train";
  int64_t shard_size = 1000;
};

void run_data_shard(const DataShardArgs& args, const GlobalOptions& global) {
  apply_global_options(global);
  DatasetOptions options;
  options.cache_dir = global.cache_dir;
  options.threads = global.threads;
  const ShardSummary s = shard_source(args.source, args.split, args.out, args.shard_size, options);
  std::cout << "wrote " << s.samples << " " << args.split << " samples of " << args.source
            << " to " << s.shards.size() << " shards: " << s.shards.front();
  if (s.shards.size() > 1) std::cout << " .. " << s.shards.back();
  std::cout << "\n";
  if (!s.classes_file.empty()) std::cout << "classes  " << s.classes_file << "\n";
}

}  // namespace

void register_data_commands(CLI::App& app, GlobalOptions& global) {
  CLI::App* data = app.add_subcommand("data", "Inspect datasets, or write them as shards");
  data->require_subcommand(1);
  auto args = std::make_shared<DataInfoArgs>();
  CLI::App* info = data->add_subcommand("info", "Size, classes and pixel statistics of a dataset");
  info->add_option("--data", args->data,
                   "fashion-mnist | mnist | a path (IDX folder, CIFAR-10 binary, image folder or "
                   ".tar/.tar.gz)")
      ->capture_default_str();
  info->add_option("--split", args->split, "train | test | val")->capture_default_str();
  info->add_option("--json", args->json, "Also write the summary as JSON to this file");
  info->add_flag("--per-class", args->per_class, "Also print the images per class (needs labels)");
  add_storage_options(*info, args->storage);
  info->callback([args, &global] { run_data_info(*args, global); });

  auto shard_args = std::make_shared<DataShardArgs>();
  CLI::App* shard = data->add_subcommand(
      "shard", "Write a split of any source as WebDataset shards OUT/<split>/<split>-000000.tar");
  shard->add_option("source", shard_args->source,
                    "fashion-mnist | mnist | a path (IDX, CIFAR-10, image folder or archive, "
                    "shard folder or list root/train-{000000..000009}.tar)")
      ->required();
  shard->add_option("out", shard_args->out, "Output folder (the shards go to OUT/<split>/)")
      ->required();
  shard->add_option("--split", shard_args->split, "train | test | val")->capture_default_str();
  shard->add_option("--shard-size", shard_args->shard_size, "Samples per shard")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  shard->callback([shard_args, &global] { run_data_shard(*shard_args, global); });
}

}  // namespace clustermim
