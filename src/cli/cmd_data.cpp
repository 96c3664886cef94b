/*
 * `clustermim data info`: what a dataset spec resolves to, its size, classes and statistics.
 */
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"

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

}  // namespace

void register_data_commands(CLI::App& app, GlobalOptions& global) {
  CLI::App* data = app.add_subcommand("data", "Inspect datasets");
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
}

}  // namespace clustermim
