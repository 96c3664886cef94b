/*
 * `clustermim data info`: what a dataset spec resolves to, its size, classes and statistics.
 * `clustermim data shard`: any source written as WebDataset shards (see data/webdataset.h).
 */
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"
#include "data/webdataset.h"

namespace clustermim {

namespace {

struct DataInfoArgs {
  std::string data = "fashion-mnist";
  std::string split = "train";
  std::string json;
};

void run_data_info(const DataInfoArgs& args, const GlobalOptions& global) {
  apply_global_options(global);
  const Dataset d = open_dataset(args.data, args.split, global);
  const ChannelStats stats = compute_channel_stats(d);
  std::vector<int64_t> per_class(d.num_classes(), 0);
  for (int32_t label : d.labels) ++per_class[label];

  std::cout << "dataset  " << d.name << " (" << d.split << ")\n"
            << "source   " << d.source << "\n"
            << "images   " << d.size() << " x " << d.height << "x" << d.width << "x"
            << d.channels << " uint8\n"
            << "mean     " << fixed(stats.mean[0], 4) << " " << fixed(stats.mean[1], 4) << " "
            << fixed(stats.mean[2], 4) << "\n"
            << "std      " << fixed(stats.std[0], 4) << " " << fixed(stats.std[1], 4) << " "
            << fixed(stats.std[2], 4) << "\n"
            << "skipped  " << d.skipped << " corrupt samples\n\n";
  std::vector<std::vector<std::string>> rows;
  for (int64_t c = 0; c < d.num_classes(); ++c) {
    rows.push_back({std::to_string(c), d.classes[c], std::to_string(per_class[c])});
  }
  std::cout << format_table({"label", "class", "images"}, rows);

  if (!args.json.empty()) {
    write_json(args.json, {{"name", d.name},
                           {"split", d.split},
                           {"source", d.source},
                           {"images", d.size()},
                           {"shape", {d.height, d.width, d.channels}},
                           {"classes", d.classes},
                           {"per_class", per_class},
                           {"mean", stats.mean},
                           {"std", stats.std},
                           {"skipped", d.skipped}});
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
  info->add_option("--split", args->split, "train | test")->capture_default_str();
  info->add_option("--json", args->json, "Also write the summary as JSON to this file");
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
