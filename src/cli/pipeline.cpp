/*
 * Pipeline steps shared by the pretrain, eval and run commands (see pipeline.h).
 */
#include "cli/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "cli/run_config.h"
#include "core/error.h"
#include "tokenizers/prepared_tokenizer.h"

namespace clustermim {

namespace fs = std::filesystem;

std::string fresh_hint(const std::string& out_dir) {
  return "pass --fresh to start over in " + out_dir + " (or choose another --out)";
}

std::unique_ptr<Tokenizer> prepare_run_tokenizer(const nlohmann::json& config,
                                                 const ImageSource& train,
                                                 const ChannelStats& stats,
                                                 const std::string& out_dir, torch::Device device) {
  const nlohmann::json& t = config["tokenizer"];
  std::string request = t["file"].get<std::string>();
  if (request.empty()) {
    request = t["kind"].get<std::string>();
    if (request != "label") request += ":" + std::to_string(t["vocab"].get<int64_t>());
  }
  auto tokenizer = prepare_tokenizer(parse_tokenizer_request(request), train, stats,
                                     tokenizer_build_options(config),
                                     out_dir + "/tokenizer.cmtk", fresh_hint(out_dir), device);
  const int64_t vocab = t["vocab"].get<int64_t>();
  CM_REQUIRE(tokenizer->spec().vocab == vocab, request, ": tokenizer has K = ",
             tokenizer->spec().vocab, " but tokenizer.vocab = ", vocab,
             " (set tokenizer.vocab to match)");
  return tokenizer;
}

FeatureKMeansOptions round_feature_options(const nlohmann::json& config) {
  const BuildOptions b = tokenizer_build_options(config);
  FeatureKMeansOptions o;
  o.vocab = b.fit.vocab;
  o.normalize = b.normalize_features;
  o.patch_size = b.fit.patch_size;
  o.image_size = b.fit.image_size;
  o.max_patches = b.fit.max_patches;
  o.iterations = b.fit.iterations;
  o.seed = b.fit.seed;
  o.workers = b.fit.workers;
  o.max_bad_fraction = b.fit.max_bad_fraction;
  o.bf16 = config["pretrain"]["bf16"].get<bool>();
  return o;
}

void clear_run_outputs(const std::string& out_dir) {
  std::error_code ec;
  if (!fs::is_directory(out_dir, ec)) return;
  for (const fs::directory_entry& e : fs::directory_iterator(out_dir)) {
    const std::string name = e.path().filename().string();
    auto holds_training = [](const fs::path& dir) {
      return fs::exists(dir / "metrics.jsonl") || !latest_checkpoint(dir.string()).empty();
    };
    const bool method_dir = e.is_directory() && (holds_training(e.path()) ||
                                                 holds_training(e.path() / "finetune"));
    const bool output = (name.rfind("tokenizer", 0) == 0 && e.path().extension() == ".cmtk") ||
                        (name.size() > 11 && name.substr(name.size() - 11) == "-block.json") ||
                        name == "report.md" || name == "report.json" || name == "curves.png" ||
                        name == "config.json";
    if (!method_dir && !output) continue;
    spdlog::info("--fresh: removing {}", e.path().string());
    fs::remove_all(e.path());
  }
}

MethodResult run_method(const nlohmann::json& config, const std::string& method,
                        const Tokenizer* tokenizer, const ImageSource& train,
                        const ChannelStats& stats,
                        const std::string& out_dir, torch::Device device,
                        DistributedGroup* group) {
  MethodResult r;
  const MimConfig mc = model_config(config, method);
  torch::manual_seed(config["pretrain"]["seed"].get<uint64_t>());
  r.model = MimModel(mc);
  r.model->to(device);
  if (method == "random-init") return r;
  r.dir = out_dir + "/" + method;
  const nlohmann::json saved = {{"run", config}, {"method", method}};
  const std::string resume = fs::exists(r.dir) ? latest_checkpoint(r.dir) : "";
  spdlog::info("pretraining {} ({}, {} epochs){}", method, model_name(config),
               config["pretrain"]["epochs"].get<int64_t>(), resume.empty() ? "" : ", resuming");
  PretrainOptions options = pretrain_options(config, r.dir);
  options.group = group;
  r.pretrain = pretrain(r.model, mc.target == "tokens" ? tokenizer : nullptr, train, stats,
                        options, device, saved, resume);
  return r;
}

EncoderEvalOptions encoder_eval_options(const nlohmann::json& config,
                                        const std::string& cache_dir, const std::string& which) {
  EncoderEvalOptions o = eval_options(config);
  const DataOptions data = data_options(config);
  o.features.crop_ratio = data.crop_ratio;
  o.features.max_bad_fraction = data.max_bad_fraction;
  o.knn = which != "linear";
  o.linear = which != "knn";
  o.cache_dir = cache_dir;
  return o;
}

FinetuneResult finetune_encoder(const nlohmann::json& config, int64_t epochs,
                                VisionTransformer& encoder, const ImageSource& train,
                                const ImageSource& test, const ChannelStats& stats,
                                const std::string& dir, torch::Device device) {
  FinetuneOptions options = finetune_options(config, dir);
  options.epochs = epochs;
  torch::manual_seed(options.seed);
  const int64_t classes = std::max(train.num_classes(), test.num_classes());
  VitClassifier classifier(make_classifier_config(encoder->config(), classes, options));
  classifier->load_encoder(encoder);
  const nlohmann::json saved = {{"run", config}, {"finetune_epochs", epochs}};
  std::string resume = fs::is_directory(dir) ? latest_checkpoint(dir) : "";
  if (!resume.empty()) {
    const Checkpoint c = load_checkpoint(resume);
    const int64_t made = c.info.config.value("finetune_epochs", int64_t{-1});
    std::string why = made == epochs ? "" : "eval.finetune_epochs was " + std::to_string(made);
    if (why.empty()) {
      why = finetune_provenance(classifier, train, test, stats, options)
                .describe_mismatch(Provenance::from_json(
                    c.info.config.value("provenance", nlohmann::json::object())));
    }
    if (!why.empty()) {
      spdlog::warn("{}: fine-tune made from another encoder or under other settings ({}); "
                   "starting it over",
                   resume, why);
      fs::remove_all(dir);
      resume.clear();
    }
  }
  return finetune(classifier, train, test, stats, options, device, saved, resume);
}

}  // namespace clustermim
