/*
 * `clustermim tokenizer fit | info`: fit a tokenizer on a dataset split and save it, or describe
 * a saved tokenizer file.
 */
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/context.h"
#include "cli/run_config.h"
#include "cli/tokenizer_options.h"
#include "core/error.h"
#include "tokenizers/feature_kmeans.h"

namespace clustermim {

namespace {

struct FitArgs {
  std::string data = "fashion-mnist";
  std::string split = "train";
  std::string kind = "pixel-kmeans:64";
  std::string out;
  BuildOptions build;
  StorageArgs storage;
};

void run_fit(FitArgs args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  const TokenizerRequest request = parse_tokenizer_request(args.kind);
  CM_REQUIRE(request.path.empty(),
             "--kind: expected label, random[:K], pixel-kmeans[:K] or feature-kmeans[:K], got a file");
  const ImageSplit data =
      open_split(args.data, args.split, global, args.build.fit.image_size, args.storage);
  if (request.kind == "label") require_labels(data, "the label tokenizer");
  BuildOptions build = resolve_fit_options(args.build, *data.source, global.workers);
  build.fit.crop_ratio = kTokenCropRatio;
  const ChannelStats stats = sampled_channel_stats(data, kChannelStatsSample, build.fit.image_size);
  auto tokenizer = build_tokenizer(request, *data.source, stats, build, device,
                                   log_kmeans_progress(args.kind));
  tokenizer->save(args.out);
  const TokenizerSpec& s = tokenizer->spec();
  spdlog::info("saved {} tokenizer (K = {}, patch {}, image {}) to {}", s.kind, s.vocab,
               s.patch_size, s.image_size, args.out);
}

void run_info(const std::string& path) {
  const auto tokenizer = load_tokenizer(path);
  const TokenizerSpec& s = tokenizer->spec();
  std::cout << "file        " << path << "\n"
            << "kind        " << s.kind << "\n"
            << "vocab       " << s.vocab << "\n"
            << "patch size  " << s.patch_size << " (" << s.num_patches() << " tokens per image)\n"
            << "image size  " << s.image_size << "x" << s.image_size << "x" << s.channels << "\n"
            << "mean        " << fixed(s.stats.mean[0], 4) << " " << fixed(s.stats.mean[1], 4)
            << " " << fixed(s.stats.mean[2], 4) << "\n"
            << "std         " << fixed(s.stats.std[0], 4) << " " << fixed(s.stats.std[1], 4)
            << " " << fixed(s.stats.std[2], 4) << "\n"
            << "fitted on   " << (s.dataset.empty() ? "-" : s.dataset) << "\n";
  if (!s.fit.empty()) std::cout << "fit         " << s.fit.dump() << "\n";
  if (const auto* f = dynamic_cast<const FeatureKMeansTokenizer*>(tokenizer.get())) {
    const VitConfig& t = f->teacher().encoder->config();
    std::cout << "teacher     " << f->teacher().source << " (ViT " << t.dim << "-d x " << t.depth
              << ", patch " << t.patch_size << ", input " << t.image_size << " px; embedded)\n";
  }
}

}  // namespace

void register_tokenizer_commands(CLI::App& app, GlobalOptions& global) {
  CLI::App* tok = app.add_subcommand("tokenizer", "Fit and inspect tokenizers");
  tok->require_subcommand(1);

  auto fit = std::make_shared<FitArgs>();
  fit->build.fit.patch_size = 0;
  CLI::App* fit_cmd = tok->add_subcommand("fit", "Fit a tokenizer on a dataset split and save it");
  fit_cmd->add_option("--data", fit->data, "Dataset: fashion-mnist | mnist | a path")
      ->capture_default_str();
  fit_cmd->add_option("--split", fit->split, "Split to fit on")->capture_default_str();
  fit_cmd->add_option("--kind", fit->kind,
                      "label | random[:K] | pixel-kmeans[:K] | feature-kmeans[:K] (with --teacher)")
      ->capture_default_str();
  fit_cmd->add_option("-o,--out", fit->out, "Tokenizer file to write (.cmtk)")->required();
  add_fit_options(*fit_cmd, fit->build);
  add_storage_options(*fit_cmd, fit->storage);
  fit_cmd->callback([fit, &global] { run_fit(*fit, global); });

  auto path = std::make_shared<std::string>();
  CLI::App* info_cmd = tok->add_subcommand("info", "Describe a tokenizer file");
  info_cmd->add_option("file", *path, "Tokenizer file")->required();
  info_cmd->callback([path] { run_info(*path); });
}

}  // namespace clustermim
