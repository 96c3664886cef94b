/*
 * Pipeline steps shared by the pretrain, eval and run commands (see pipeline.h).
 */
#include "cli/pipeline.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "cli/run_config.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/features.h"
#include "tokenizers/tokenizer_factory.h"

namespace clustermim {

namespace fs = std::filesystem;

std::unique_ptr<Tokenizer> prepare_tokenizer(const nlohmann::json& config, const Dataset& train,
                                             const ChannelStats& stats, const std::string& out_dir,
                                             torch::Device device, int workers) {
  const nlohmann::json& t = config["tokenizer"];
  const std::string saved = out_dir + "/tokenizer.cmtk";
  std::string request = t["file"].get<std::string>();
  if (request.empty() && fs::exists(saved)) request = saved;
  if (request.empty()) {
    request = t["kind"].get<std::string>();
    if (request != "label") request += ":" + std::to_string(t["vocab"].get<int64_t>());
  }
  const BuildOptions build = tokenizer_build_options(config, workers);
  auto tokenizer = build_tokenizer(parse_tokenizer_request(request), train, stats, build, device);
  const int64_t vocab = t["vocab"].get<int64_t>();
  CM_REQUIRE(tokenizer->spec().vocab == vocab, request, ": tokenizer has K = ",
             tokenizer->spec().vocab, " but tokenizer.vocab = ", vocab,
             " (set tokenizer.vocab to match)");
  if (request != saved) tokenizer->save(saved);
  spdlog::info("tokenizer {} (K = {}) -> {}", tokenizer->spec().kind, tokenizer->spec().vocab, saved);
  return tokenizer;
}

MethodResult run_method(const nlohmann::json& config, const std::string& method,
                        const Tokenizer* tokenizer, const Dataset& train, const ChannelStats& stats,
                        const std::string& out_dir, torch::Device device, int workers,
                        DistributedGroup* group) {
  MethodResult r;
  const MimConfig mc = model_config(config, method);
  torch::manual_seed(config["pretrain"]["seed"].get<uint64_t>());
  r.model = MimModel(mc);
  r.model->to(device);
  if (method == "random-init") return r;
  r.dir = out_dir + "/" + method;
  const nlohmann::json saved = {{"run", config}, {"method", method}, {"mim", to_json(mc)},
                                {"stats", {{"mean", stats.mean}, {"std", stats.std}}}};
  const std::string resume = fs::exists(r.dir) ? latest_checkpoint(r.dir) : "";
  spdlog::info("pretraining {} ({}, {} epochs){}", method, config["model"]["preset"].get<std::string>(),
               config["pretrain"]["epochs"].get<int64_t>(), resume.empty() ? "" : ", resuming");
  PretrainOptions options = pretrain_options(config, r.dir, workers);
  options.group = group;
  r.pretrain = pretrain(r.model, mc.target == "tokens" ? tokenizer : nullptr, train, stats,
                        options, device, saved, resume);
  return r;
}

MimModel model_from_checkpoint(const Checkpoint& checkpoint, ChannelStats* stats) {
  const nlohmann::json& c = checkpoint.info.config;
  CM_REQUIRE(c.contains("mim") && c.contains("stats"), checkpoint.file.source,
             ": checkpoint has no model config (not written by clustermim pretrain?)");
  MimModel model(mim_config_from_json(c["mim"]));
  restore_model(checkpoint, *model);
  if (stats != nullptr) {
    stats->mean = c["stats"]["mean"].get<std::array<float, 3>>();
    stats->std = c["stats"]["std"].get<std::array<float, 3>>();
  }
  return model;
}

EncoderScores evaluate_encoder(VisionTransformer& encoder, const Dataset& train, const Dataset& test,
                               const ChannelStats& stats, const nlohmann::json& config,
                               torch::Device device, int workers, const std::string& cache_dir,
                               const std::string& which) {
  const auto start = std::chrono::steady_clock::now();
  encoder->eval();
  FeatureOptions fo;
  fo.image_size = encoder->config().image_size;
  fo.workers = workers;
  fo.bf16 = config["eval"]["bf16"].get<bool>();
  const EncodeFn encode = [&](const torch::Tensor& images) { return encoder->forward_features(images); };
  auto features = [&](const Dataset& d) {
    const std::string path = cache_dir.empty() ? "" : cache_dir + "/features-" + d.split + ".cmft";
    if (!path.empty() && fs::exists(path)) return load_features(path);
    Progress progress("features " + d.split, d.size());
    PooledFeatures f = extract_features(encode, d, stats, fo, device,
                                        [&](int64_t done, int64_t) { progress.update(done, ""); });
    progress.finish("");
    if (!path.empty()) save_features(path, f, {{"split", d.split}, {"dataset", d.name}});
    return f;
  };
  const PooledFeatures train_f = features(train), test_f = features(test);
  const Pooling pooling = parse_pooling(config["eval"]["pooling"].get<std::string>());
  EncoderScores s;
  if (which != "linear") {
    const KnnResult knn = knn_classify(train_f.at(pooling), test_f.at(pooling), train.num_classes(),
                                       knn_options(config), device);
    s.knn_top1 = knn.top1;
    s.knn_top5 = knn.top5;
  }
  if (which != "knn") {
    const LinearProbeResult lin = linear_probe(train_f.at(pooling), test_f.at(pooling),
                                               train.num_classes(), linear_options(config), device);
    s.linear_top1 = lin.top1;
    s.linear_top5 = lin.top5;
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

}  // namespace clustermim
