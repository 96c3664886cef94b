/*
 * `clustermim pretrain | eval | run`: MIM pretraining from a config, evaluation of a checkpoint,
 * and the whole chain (fit tokenizer -> TCAS -> pretrain each method -> k-NN and linear probe
 * -> with eval.finetune_epochs > 0, fine-tuning, random-init being supervised from scratch ->
 * report). Configs are TOML files with `--set key=value` overrides (cli/run_config.h). Splits
 * are held in memory or streamed as data.storage says; on an unlabeled train split `pretrain` and
 * `run` train without labels and `run` skips (saying so in the log and the report) what needs
 * them: the tokenizer's TCAS, k-NN, the linear probe, fine-tuning and the random-init row.
 */
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/context.h"
#include "cli/launch.h"
#include "cli/pipeline.h"
#include "cli/report.h"
#include "cli/run_config.h"
#include "core/error.h"
#include "io/config.h"
#include "io/file_util.h"
#include "metrics/tcas.h"
#include "metrics/tcas_bootstrap.h"
#include "tokenizers/teacher_rounds.h"
#include "tokenizers/tokenizer_factory.h"
#include "train/distributed.h"

namespace clustermim {

namespace {

struct RunArgs {
  std::string config_path;
  std::vector<std::string> sets;
  std::string out;
  std::string method = "clustermim";
  std::string command;
  int nproc = 1;
  bool fresh = false;
};

struct EvalArgs {
  std::string which;
  std::string checkpoint;
  std::string random_init;
  std::string config_path;
  std::vector<std::string> sets;
  std::string json;
};

/// The `--set` overrides, then `--workers N` as data.workers when it was given.
std::vector<std::string> overrides(const std::vector<std::string>& sets, const GlobalOptions& global) {
  std::vector<std::string> out = sets;
  if (global.workers_given) out.push_back("data.workers=" + std::to_string(global.workers));
  return out;
}

nlohmann::json resolved_config(const RunArgs& args, const GlobalOptions& global) {
  nlohmann::json config = load_run_config(args.config_path, overrides(args.sets, global));
  if (!args.out.empty()) config["run"]["out_dir"] = args.out;
  return config;
}

nlohmann::json score_row(const std::string& method, const EncoderScores& s) {
  return {{"method", method}, {"knn_top1", s.knn_top1}, {"knn_top5", s.knn_top5},
          {"linear_top1", s.linear_top1}, {"linear_top5", s.linear_top5}, {"eval_s", s.seconds}};
}

/// The train split of `config` (data.*) at the model's image size, and its channel statistics.
struct TrainData {
  ImageSplit split;
  ChannelStats stats;
};

TrainData open_train(const nlohmann::json& config, const GlobalOptions& global) {
  const DataOptions data = data_options(config);
  const int side = static_cast<int>(model_shape(config).encoder.image_size);
  TrainData t;
  t.split = open_split(config["data"]["dataset"].get<std::string>(),
                       config["data"]["train_split"].get<std::string>(), global, side,
                       data.storage, data.memory_budget_gb);
  t.stats = split_channel_stats(t.split, data.channel_stats, kChannelStatsSample, side);
  return t;
}

/// The evaluation split of `config` at the model's image size.
ImageSplit open_eval_split(const nlohmann::json& config, const GlobalOptions& global) {
  const DataOptions data = data_options(config);
  return open_split(config["data"]["dataset"].get<std::string>(),
                    config["data"]["eval_split"].get<std::string>(), global,
                    static_cast<int>(model_shape(config).encoder.image_size), data.storage,
                    data.memory_budget_gb);
}

/// The steps an unlabeled train split leaves out, as the log and the report say them.
const char* const kUnlabeledSkips =
    "tokenizer TCAS, k-NN, linear probe and fine-tuning skipped: the train split is unlabeled";

/// `pretrain`, as one process or as one rank of a data-parallel group (WORLD_SIZE set, by
/// `--nproc` or by a launcher on each machine). Rank 0 fits the tokenizer, logs and writes.
void run_pretrain(const RunArgs& args, const GlobalOptions& global) {
  CM_REQUIRE(args.nproc >= 1, "pretrain: --nproc ", args.nproc, " must be >= 1");
  if (args.nproc > 1 && !distributed_env_present()) return launch_local_workers(args.nproc);
  const torch::Device device = apply_global_options(global);
  DistributedGroup group(distributed_env_from_environment());
  if (!group.is_main()) spdlog::set_level(spdlog::level::warn);
  if (group.world_size() > 1) {
    spdlog::info("data-parallel: {} processes (Gloo), {} threads each; rank 0 logs and checkpoints",
                 group.world_size(), at::get_num_threads());
  }
  nlohmann::json config = resolved_config(args, global);
  const std::string out = config["run"]["out_dir"].get<std::string>();
  const TrainData data = open_train(config, global);
  const ImageSource& train = *data.split.source;
  const ChannelStats& stats = data.stats;
  if (!data.split.labeled()) {
    spdlog::info("{}: unlabeled; pretraining without labels", train.name());
  }
  if (args.fresh) {  // the other ranks look for checkpoints only once rank 0 has cleared them
    if (group.is_main()) clear_run_outputs(out);
    group.barrier();
  }
  apply_device_precision(config, device);
  if (group.is_main()) write_json(out + "/config.json", config);
  std::unique_ptr<Tokenizer> tokenizer;
  if (args.method == "clustermim") {
    if (!group.is_main()) group.barrier();  // the others load what rank 0 fitted and saved
    tokenizer = prepare_run_tokenizer(config, train, stats, out, device);
    if (group.is_main()) group.barrier();
  }
  const MethodResult r = run_method(config, args.method, tokenizer.get(), train, stats, out,
                                    device, &group);
  if (!group.is_main()) return;
  std::cout << "pretrained " << args.method << ": " << r.pretrain.steps << " steps, last-epoch loss "
            << fixed(r.pretrain.last_loss, 4) << ", " << fixed(r.pretrain.images_per_second, 0)
            << " img/s; checkpoint " << r.pretrain.checkpoint << "\n";
}

void run_eval(const EvalArgs& args, const GlobalOptions& global) {
  const torch::Device device = apply_global_options(global);
  CM_REQUIRE(args.checkpoint.empty() != args.random_init.empty(),
             "eval: give exactly one of --checkpoint FILE or --random-init PRESET");
  nlohmann::json config = load_run_config(args.config_path, overrides(args.sets, global));
  ChannelStats stats;
  MimModel model{nullptr};
  std::string cache;
  if (!args.checkpoint.empty()) {
    const Checkpoint c = load_checkpoint(args.checkpoint);
    model = load_model(c);
    stats = checkpoint_model_spec(c).stats;
    if (args.config_path.empty() && c.info.config.contains("run")) {
      config = resolve_config(default_run_config(), c.info.config["run"],
                              overrides(args.sets, global), args.checkpoint);
    }
    cache = args.checkpoint + ".features";
  } else {
    config["model"]["preset"] = args.random_init;
    torch::manual_seed(config["pretrain"]["seed"].get<uint64_t>());
    model = MimModel(model_config(config, "random-init"));
  }
  model->to(device);
  const std::string command = "eval " + args.which;
  const DataOptions data = data_options(config);
  const int side = static_cast<int>(model->encoder()->config().image_size);
  const std::string spec = config["data"]["dataset"].get<std::string>();
  const ImageSplit train = open_split(spec, config["data"]["train_split"].get<std::string>(),
                                      global, side, data.storage, data.memory_budget_gb);
  require_labels(train, command);
  const ImageSplit test = open_split(spec, config["data"]["eval_split"].get<std::string>(), global,
                                     side, data.storage, data.memory_budget_gb);
  require_labels(test, command);
  if (args.checkpoint.empty()) {
    stats = split_channel_stats(train, data.channel_stats, kChannelStatsSample, side);
  }
  apply_device_precision(config, device);
  const EncoderScores s = evaluate_encoder(model->encoder(), *train.source, *test.source, stats,
                                           encoder_eval_options(config, cache, args.which),
                                           device);
  const nlohmann::json row = score_row(args.checkpoint.empty() ? "random-init" : args.checkpoint, s);
  if (args.which == "knn") {
    std::cout << "k-NN (k = " << config["eval"]["knn_k"] << "): top-1 " << fixed(100 * s.knn_top1, 2)
              << " %, top-5 " << fixed(100 * s.knn_top5, 2) << " %\n";
  } else {
    std::cout << "linear probe: top-1 " << fixed(100 * s.linear_top1, 2) << " %, top-5 "
              << fixed(100 * s.linear_top5, 2) << " %\n";
  }
  if (!args.json.empty()) write_json(args.json, row);
}

/// The fine-tune fields of a report row: top-1 / top-5 best and last (fractions), the epoch of
/// the best, the epochs, and the time in training steps over resumed invocations.
void add_finetune_scores(const FinetuneResult& f, int64_t epochs, nlohmann::json& row) {
  row["finetune_epochs"] = epochs;
  row["finetune_top1"] = f.top1_best;
  row["finetune_top5"] = f.top5_best;
  row["finetune_top1_last"] = f.top1_last;
  row["finetune_top5_last"] = f.top5_last;
  row["finetune_best_epoch"] = f.best_epoch;
  row["finetune_s"] = f.train_seconds;
  row["finetune_images_per_second"] = f.images_per_second;
}

/// What pretraining bought: each pretrained row's fine-tune top-1 (best) minus the from-scratch
/// (random-init) row's, in points, also written into the rows as "finetune_gain_points".
nlohmann::json finetune_gains(nlohmann::json& rows, int64_t epochs) {
  nlohmann::json summary = {{"epochs", epochs}, {"from_scratch", nullptr},
                            {"gain_points", nlohmann::json::object()}};
  const auto scratch = std::find_if(rows.begin(), rows.end(), [](const nlohmann::json& r) {
    return r["method"] == "random-init" && r.contains("finetune_top1");
  });
  if (scratch == rows.end()) return summary;
  const double base = (*scratch)["finetune_top1"].get<double>();
  summary["from_scratch"] = base;
  for (nlohmann::json& r : rows) {
    if (r["method"] == "random-init" || !r.contains("finetune_top1")) continue;
    const double gain = 100 * (r["finetune_top1"].get<double>() - base);
    r["finetune_gain_points"] = gain;
    summary["gain_points"][r["method"].get<std::string>()] = gain;
  }
  return summary;
}

/// Pretrains (or resumes) one method, evaluates its encoder (and fine-tunes a copy of it with
/// eval.finetune_epochs > 0), and returns its report row. `test` null: the data is unlabeled,
/// the method is only pretrained.
nlohmann::json run_and_score(const nlohmann::json& config, const std::string& method,
                             const Tokenizer* tokenizer, const nlohmann::json& tcas,
                             const ImageSource& train, const ImageSource* test,
                             const ChannelStats& stats, const std::string& out,
                             torch::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  MethodResult r = run_method(config, method, tokenizer, train, stats, out, device);
  const std::string cache = r.dir.empty() ? "" : r.dir + "/features-step" + std::to_string(r.pretrain.steps);
  EncoderScores s;
  if (test != nullptr) {
    s = evaluate_encoder(r.model->encoder(), train, *test, stats,
                         encoder_eval_options(config, cache), device);
  }
  nlohmann::json row = test != nullptr ? score_row(method, s) : nlohmann::json{{"method", method}};
  const int64_t finetune_epochs = test != nullptr ? run_eval_options(config).finetune_epochs : 0;
  if (finetune_epochs > 0) {
    spdlog::info("fine-tuning {} ({} epochs{})", method, finetune_epochs,
                 method == "random-init" ? ", supervised from scratch" : "");
    const FinetuneResult f = finetune_encoder(config, finetune_epochs, r.model->encoder(), train,
                                              *test, stats, out + "/" + method + "/finetune",
                                              device);
    add_finetune_scores(f, finetune_epochs, row);
  }
  row["epochs"] = method == "random-init" ? 0 : config["pretrain"]["epochs"].get<int64_t>();
  row["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tokenizer != nullptr) {
    row["tokenizer"] = tokenizer->spec().kind;
    row["vocab"] = tokenizer->spec().vocab;
    row["tcas"] = tcas.is_object() ? tcas["tcas"] : nlohmann::json(nullptr);
    row["masked_token_accuracy"] = r.pretrain.last_accuracy;
    row["tokenizer_images_per_second"] = r.pretrain.tokenizer_images_per_second;
  } else if (method == "mae") {
    row["tokenizer"] = config["model"]["norm_pix"].get<bool>() ? "normalized pixels" : "pixels";
  }
  if (method != "random-init") {
    row["pretrain_images_per_second"] = r.pretrain.images_per_second;
    row["pretrain_s"] = r.pretrain.train_seconds;
    row["pretrain_steps"] = r.pretrain.steps;
    row["last_loss"] = r.pretrain.last_loss;
  }
  if (test == nullptr) return row;
  spdlog::info("{}: k-NN {:.2f} %, linear {:.2f} %{}", method, 100 * s.knn_top1,
               100 * s.linear_top1,
               finetune_epochs > 0
                   ? fmt::format(", fine-tune {:.2f} %", 100 * row["finetune_top1"].get<double>())
                   : "");
  return row;
}

/// TCAS of `tokenizer` on the evaluation split (null JSON when `test` is null: unlabeled data).
nlohmann::json tokenizer_tcas(const Tokenizer& tokenizer, const ImageSource* test,
                              const nlohmann::json& config, torch::Device device) {
  if (test == nullptr) return nullptr;
  const TokenLabelSet tokens = tokenize_split(tokenizer, *test, data_workers(config), device,
                                              kTokenCropRatio,
                                              data_options(config).max_bad_fraction);
  nlohmann::json tcas = tcas_to_json(score_tcas(tokens.view(), BootstrapOptions{}, test->name()));
  spdlog::info("tokenizer TCAS on {}: {:.4f} [{:.4f}, {:.4f}]", test->name(),
               tcas["tcas"].get<double>(), tcas["tcas_ci_low"].get<double>(),
               tcas["tcas_ci_high"].get<double>());
  return tcas;
}

/// Rounds 2..run.rounds of bootstrapped ClusterMIM, each taught by the previous round's encoder.
void run_bootstrap_rounds(const nlohmann::json& config, const ImageSource& train,
                          const ImageSource* test, const ChannelStats& stats, const std::string& out, torch::Device device,
                          nlohmann::json& rows, nlohmann::json& rounds) {
  std::string previous = "clustermim";
  for (int round = 2; round <= config["run"]["rounds"].get<int>(); ++round) {
    const std::string teacher = latest_checkpoint(out + "/" + previous);
    CM_REQUIRE(!teacher.empty(), out, "/", previous, ": no checkpoint to bootstrap round ", round, " from");
    const std::string method = "clustermim-r" + std::to_string(round);
    FeatureKMeansOptions o = round_feature_options(config);
    nlohmann::json choice = prepare_block_choice(
        out + "/" + method + "-block.json", teacher,
        config["tokenizer"]["bootstrap_block"].get<std::string>(), o, train, stats,
        fresh_hint(out), device);
    o.block = choice["block"].get<int64_t>();
    const auto tokenizer = prepare_round_tokenizer(
        teacher, o, train, stats, out + "/tokenizer-r" + std::to_string(round) + ".cmtk",
        fresh_hint(out), device);
    const nlohmann::json tcas = tokenizer_tcas(*tokenizer, test, config, device);
    nlohmann::json row = run_and_score(config, method, tokenizer.get(), tcas, train, test, stats,
                                       out, device);
    row["round"] = round;
    row["teacher_block"] = choice["block"];
    rows.push_back(row);
    choice["round"] = round;
    choice["tcas"] = tcas.is_object() ? tcas["tcas"] : nlohmann::json(nullptr);
    rounds.push_back(choice);
    previous = method;
  }
}

void run_all(const RunArgs& args, const GlobalOptions& global) {
  const auto start = std::chrono::steady_clock::now();
  const torch::Device device = apply_global_options(global);
  nlohmann::json config = resolved_config(args, global);
  const std::string out = config["run"]["out_dir"].get<std::string>();
  const int64_t finetune_epochs = run_eval_options(config).finetune_epochs;
  if (finetune_epochs > 0) finetune_options(config, "");  // a bad finetune.* key fails up front
  if (args.fresh) clear_run_outputs(out);
  apply_device_precision(config, device);
  write_json(out + "/config.json", config);
  const TrainData data = open_train(config, global);
  const ImageSource& train = *data.split.source;
  const ChannelStats& stats = data.stats;
  std::optional<ImageSplit> eval_split;
  if (data.split.labeled()) {
    eval_split = open_eval_split(config, global);
    require_labels(*eval_split, "run (evaluation split " +
                                    config["data"]["eval_split"].get<std::string>() + ")");
  } else {
    spdlog::warn("{}: {}", train.name(), kUnlabeledSkips);
  }
  const ImageSource* test = eval_split ? eval_split->source.get() : nullptr;
  auto methods = config["run"]["methods"].get<std::vector<std::string>>();
  bool dropped_random_init = false;
  if (test == nullptr && std::find(methods.begin(), methods.end(), "random-init") != methods.end()) {
    spdlog::warn("random-init left out: without labels there is nothing to evaluate it on");
    methods.erase(std::find(methods.begin(), methods.end(), "random-init"));
    dropped_random_init = true;
  }
  const bool clustermim = std::find(methods.begin(), methods.end(), "clustermim") != methods.end();
  CM_REQUIRE(config["run"]["rounds"].get<int>() >= 1, "run.rounds must be >= 1");
  CM_REQUIRE(clustermim || config["run"]["rounds"].get<int>() == 1,
             "run.rounds > 1 bootstraps from the clustermim method: add it to run.methods");

  std::unique_ptr<Tokenizer> tokenizer;
  nlohmann::json tcas;
  if (clustermim) {
    tokenizer = prepare_run_tokenizer(config, train, stats, out, device);
    tcas = tokenizer_tcas(*tokenizer, test, config, device);
  }
  nlohmann::json rows = nlohmann::json::array(), rounds = nlohmann::json::array();
  for (const std::string& method : methods) {
    const Tokenizer* targets = method == "clustermim" ? tokenizer.get() : nullptr;
    nlohmann::json row = run_and_score(config, method, targets, tcas, train, test, stats, out,
                                       device);
    if (method == "clustermim") row["round"] = 1;
    rows.push_back(row);
    if (method == "clustermim") {
      run_bootstrap_rounds(config, train, test, stats, out, device, rows, rounds);
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto skipped = [](const ImageSplit* s) { return s != nullptr ? s->skipped() : 0; };
  nlohmann::json report = {
      {"rows", rows}, {"config", config}, {"tcas", tcas}, {"rounds", rounds},
      {"machine", describe_machine(device.str())},
      {"storage", {{"train", data.split.streamed() ? "stream" : "memory"},
                   {"eval", !eval_split ? nullptr
                                        : nlohmann::json(eval_split->streamed() ? "stream"
                                                                                : "memory")}}},
      {"skipped_samples",
       {{"train", skipped(&data.split)}, {"eval", skipped(eval_split ? &*eval_split : nullptr)}}},
      {"command", args.command}, {"wall_s", wall}};
  if (test == nullptr) {
    report["labeled"] = false;
    report["skipped_steps"] = {"tokenizer TCAS", "k-NN", "linear probe", "fine-tuning"};
    if (dropped_random_init) report["skipped_steps"].push_back("random-init");
  }
  if (finetune_epochs > 0 && test != nullptr) {
    report["finetune"] = finetune_gains(report["rows"], finetune_epochs);
  }
  write_report(out, report);
  std::vector<std::string> curves;
  for (const auto& row : rows) curves.push_back(row["method"].get<std::string>());
  write_training_curves(out, curves);
  std::cout << "\n" << format_report_table(report["rows"]) << "\nreport: " << out
            << "/report.md\n";
}

void add_config_options(CLI::App& cmd, RunArgs& args) {
  cmd.add_option("config", args.config_path, "TOML config file (defaults apply to what it omits)");
  cmd.add_option("--set", args.sets, "Override a setting: key.path=value (repeatable)");
  cmd.add_option("--out", args.out, "Output folder (overrides run.out_dir)");
  cmd.add_flag("--fresh", args.fresh,
               "Start over in the output folder: delete its tokenizers, checkpoints, metrics and "
               "reports first (needed when they were made under other settings)");
}

}  // namespace

void register_run_commands(CLI::App& app, GlobalOptions& global, const std::string& command_line) {
  auto pre = std::make_shared<RunArgs>();
  pre->command = command_line;
  CLI::App* pre_cmd = app.add_subcommand("pretrain", "Pretrain a ViT with ClusterMIM or MAE targets");
  add_config_options(*pre_cmd, *pre);
  pre_cmd->add_option("--method", pre->method, "clustermim | mae")->capture_default_str();
  pre_cmd->add_option("--nproc", pre->nproc,
                      "Data-parallel processes on this machine (Gloo); the batch is split "
                      "among them")->capture_default_str();
  pre_cmd->callback([pre, &global] { run_pretrain(*pre, global); });

  CLI::App* eval_cmd = app.add_subcommand("eval", "Evaluate an encoder (k-NN, linear probe or fine-tuning)");
  eval_cmd->require_subcommand(1);
  for (const std::string which : {"knn", "linear"}) {
    auto args = std::make_shared<EvalArgs>();
    args->which = which;
    CLI::App* sub = eval_cmd->add_subcommand(
        which, which == "knn" ? "k-NN classification (cosine, weighted vote)"
                              : "Linear probe (BatchNorm + Linear on cached features)");
    sub->add_option("--checkpoint", args->checkpoint, "Checkpoint (.cmck) of `pretrain`");
    sub->add_option("--random-init", args->random_init, "Evaluate a randomly initialised preset");
    sub->add_option("--config", args->config_path, "TOML config (default: the checkpoint's)");
    sub->add_option("--set", args->sets, "Override a setting: key.path=value (repeatable)");
    sub->add_option("--json", args->json, "Write the scores as JSON to this file");
    sub->callback([args, &global] { run_eval(*args, global); });
  }

  auto all = std::make_shared<RunArgs>();
  all->command = command_line;
  CLI::App* run_cmd = app.add_subcommand(
      "run", "Fit tokenizer -> TCAS -> pretrain each method -> k-NN + linear probe "
             "[-> fine-tune, eval.finetune_epochs] -> report");
  add_config_options(*run_cmd, *all);
  run_cmd->callback([all, &global] { run_all(*all, global); });
}

}  // namespace clustermim
