/*
 * `clustermim eval finetune`: the whole network fine-tuned with a classification head (MAE's
 * recipe, train/finetune.h) from a pretraining checkpoint, a timm-named safetensors encoder or a
 * random initialisation (supervised from scratch). Settings are the run config's finetune.*
 * keys; the run folder (--out) holds checkpoints, metrics.jsonl and finetune.json, and running
 * the same command again resumes from its newest checkpoint. `--nproc N` runs it as N
 * data-parallel processes (as `pretrain --nproc`; rank 0 prints and writes).
 */
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/context.h"
#include "cli/launch.h"
#include "cli/run_config.h"
#include "core/error.h"
#include "io/config.h"
#include "models/checkpoint_file.h"
#include "models/vit_weights.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/finetune.h"

namespace clustermim {

namespace {

namespace fs = std::filesystem;

struct FinetuneArgs {
  std::string checkpoint;
  std::string weights;
  std::string random_init;
  std::string config_path;
  std::vector<std::string> sets;
  std::string json;
  std::string out;
  bool fresh = false;
  int nproc = 1;
};

/// --fresh: deletes what a fine-tuning run writes in `out` (checkpoints, metrics, scores).
void clear_finetune_outputs(const std::string& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if ((name.rfind("ckpt-", 0) == 0 && e.path().extension() == ".cmck") ||
        name == "metrics.jsonl" || name == "finetune.json") {
      spdlog::info("--fresh: removing {}", e.path().string());
      fs::remove(e.path());
    }
  }
}

void run_finetune(const FinetuneArgs& a, const GlobalOptions& global) {
  const auto start = std::chrono::steady_clock::now();
  const int sources = !a.checkpoint.empty() + !a.weights.empty() + !a.random_init.empty();
  CM_REQUIRE(sources == 1, "eval finetune: give exactly one of --checkpoint CKPT, --weights ",
             "FILE.safetensors or --random-init PRESET");
  CM_REQUIRE(a.nproc >= 1, "eval finetune: --nproc ", a.nproc, " must be >= 1");
  if (a.nproc > 1 && !distributed_env_present()) return launch_local_workers(a.nproc);
  const torch::Device device = apply_global_options(global);
  DistributedGroup group(distributed_env_from_environment());
  if (!group.is_main()) spdlog::set_level(spdlog::level::warn);
  if (group.world_size() > 1) {
    spdlog::info("data-parallel: {} processes (Gloo), {} threads each; rank 0 logs and checkpoints",
                 group.world_size(), at::get_num_threads());
  }
  std::vector<std::string> sets = a.sets;
  if (global.workers_given) sets.push_back("data.workers=" + std::to_string(global.workers));
  nlohmann::json config = load_run_config(a.config_path, sets);
  std::optional<FrozenEncoder> pretrained;
  VitConfig encoder;
  std::string source = a.random_init;
  if (!a.checkpoint.empty()) {
    const Checkpoint c = load_checkpoint(a.checkpoint);
    const CheckpointModelSpec& spec = checkpoint_model_spec(c);
    if (a.config_path.empty() && c.info.config.contains("run")) {
      config = resolve_config(default_run_config(), c.info.config["run"], sets, a.checkpoint);
    }
    pretrained = frozen_encoder(spec.mim.encoder, checkpoint_encoder_weights(c), spec.stats,
                                a.checkpoint);
    source = a.checkpoint;
  } else if (!a.weights.empty()) {
    pretrained = load_encoder(a.weights);
    source = a.weights;
  } else {
    encoder = mim_preset(a.random_init).encoder;
  }
  if (pretrained) encoder = pretrained->encoder->config();
  const std::string out =
      a.out.empty() ? config["run"]["out_dir"].get<std::string>() + "/finetune" : a.out;
  finetune_options(config, out);  // a bad finetune.* key fails before the precision warning
  apply_device_precision(config, device);
  FinetuneOptions options = finetune_options(config, out);
  options.group = &group;
  const DataOptions data = data_options(config);
  const std::string spec = config["data"]["dataset"].get<std::string>();
  const int side = static_cast<int>(encoder.image_size);
  const ImageSplit train_split = open_split(spec, config["data"]["train_split"].get<std::string>(),
                                            global, side, data.storage, data.memory_budget_gb);
  require_labels(train_split, "eval finetune");
  const ImageSplit test_split = open_split(spec, config["data"]["eval_split"].get<std::string>(),
                                           global, side, data.storage, data.memory_budget_gb);
  require_labels(test_split, "eval finetune");
  const ImageSource& train = *train_split.source;
  const ImageSource& test = *test_split.source;
  const ChannelStats stats =
      pretrained ? pretrained->stats
                 : split_channel_stats(train_split, data.channel_stats, kChannelStatsSample, side);

  torch::manual_seed(options.seed);
  const int64_t classes = std::max(train.num_classes(), test.num_classes());
  VitClassifier classifier(make_classifier_config(encoder, classes, options));
  if (pretrained) classifier->load_encoder(pretrained->encoder);
  if (a.fresh) {  // the other ranks look for checkpoints only once rank 0 has cleared them
    if (group.is_main()) clear_finetune_outputs(out);
    group.barrier();
  }
  const std::string resume = fs::is_directory(out) ? latest_checkpoint(out) : "";
  spdlog::info("fine-tuning {} ({} classes, {} epochs){}", source, classes, options.epochs,
               resume.empty() ? "" : ", resuming");
  const nlohmann::json saved = {{"run", config}, {"source", source}};
  const FinetuneResult r =
      finetune(classifier, train, test, stats, options, device, saved, resume);
  if (!group.is_main()) return;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "fine-tuned " << source << " for " << r.epochs.size() << " epochs (" << r.steps
            << " steps): top-1 last " << fixed(100 * r.top1_last, 2) << " %, best "
            << fixed(100 * r.top1_best, 2) << " % (epoch " << r.best_epoch + 1 << "); top-5 last "
            << fixed(100 * r.top5_last, 2) << " %, best " << fixed(100 * r.top5_best, 2)
            << " %; wall " << fixed(wall, 1) << " s; checkpoint " << r.checkpoint << "\n";
  if (!a.json.empty()) {
    nlohmann::json row = to_json(r);
    row["source"] = source;
    row["wall_s"] = wall;
    write_json(a.json, row);
  }
}

}  // namespace

void register_finetune_command(CLI::App& app, GlobalOptions& global) {
  CLI::App* eval_cmd = app.get_subcommand("eval");
  auto args = std::make_shared<FinetuneArgs>();
  CLI::App* sub = eval_cmd->add_subcommand(
      "finetune", "Fine-tune the whole network with a classification head (MAE's recipe)");
  sub->add_option("--checkpoint", args->checkpoint, "Pretraining checkpoint (.cmck)");
  sub->add_option("--weights", args->weights, "Encoder weights (.safetensors, timm names)");
  sub->add_option("--random-init", args->random_init,
                  "Start from a randomly initialised preset (supervised from scratch)");
  sub->add_option("--config", args->config_path, "TOML config (default: the checkpoint's)");
  sub->add_option("--set", args->sets, "Override a setting: key.path=value (repeatable)");
  sub->add_option("--json", args->json, "Write the scores as JSON to this file");
  sub->add_option("--out", args->out,
                  "Run folder: checkpoints, metrics.jsonl, finetune.json (default "
                  "<run.out_dir>/finetune); an existing run there is resumed");
  sub->add_flag("--fresh", args->fresh, "Delete the run folder's checkpoints and metrics first");
  sub->add_option("--nproc", args->nproc,
                  "Data-parallel processes on this machine (Gloo); the batch is split among them")
      ->capture_default_str();
  sub->callback([args, &global] { run_finetune(*args, global); });
}

}  // namespace clustermim
