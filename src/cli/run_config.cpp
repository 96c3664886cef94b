/*
 * Run configuration defaults and typed accessors (see run_config.h).
 */
#include "cli/run_config.h"

#include "core/error.h"
#include "io/config.h"

namespace clustermim {

nlohmann::json default_run_config() {
  return {
      {"data", {{"dataset", "fashion-mnist"}, {"train_split", "train"}, {"eval_split", "test"}}},
      {"model", {{"preset", "vit-tiny-28"}, {"mask_ratio", 0.75}, {"norm_pix", true}}},
      {"tokenizer",
       {{"kind", "pixel-kmeans"}, {"vocab", 64}, {"normalize_patches", false},
        {"max_patches", 200000}, {"iterations", 30}, {"seed", 0}, {"file", ""},
        {"teacher", ""}, {"teacher_block", -1}, {"teacher_heads", 0},
        {"normalize_features", false}, {"bootstrap_block", "auto"}}},
      {"pretrain",
       {{"epochs", 10}, {"batch_size", 256}, {"blr", 1.5e-4}, {"min_lr", 0.0},
        {"warmup_epochs", 1.0}, {"weight_decay", 0.05}, {"label_smoothing", 0.1},
        {"clip_grad", 0.0}, {"bf16", true}, {"seed", 0}, {"keep_checkpoints", 2},
        {"checkpoint_every", 0}, {"max_steps", 0}, {"max_bad_steps", 20}}},
      {"eval",
       {{"knn_k", 20}, {"knn_temperature", 0.07}, {"linear_epochs", 50}, {"linear_lr", 0.4},
        {"linear_batch", 1024}, {"linear_optimizer", "sgd"}, {"pooling", "cls"},
        {"bf16", true}}},
      {"run", {{"methods", {"clustermim", "mae", "random-init"}}, {"rounds", 1}, {"out_dir", "runs/run"}}},
  };
}

nlohmann::json load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  const nlohmann::json file = path.empty() ? nlohmann::json() : load_toml_file(path);
  return resolve_config(default_run_config(), file, overrides, path.empty() ? "--set" : path);
}

MimConfig model_config(const nlohmann::json& c, const std::string& method) {
  const bool round = method.rfind("clustermim-r", 0) == 0;  // a bootstrapped round (run.rounds)
  CM_REQUIRE(method == "clustermim" || method == "mae" || method == "random-init" || round,
             "unknown method '", method, "' (expected clustermim, mae or random-init)");
  MimConfig m = mim_preset(c["model"]["preset"].get<std::string>());
  m.mask_ratio = c["model"]["mask_ratio"].get<double>();
  m.norm_pix = c["model"]["norm_pix"].get<bool>();
  m.target = method == "mae" ? "pixels" : "tokens";
  m.vocab = c["tokenizer"]["vocab"].get<int64_t>();
  return m;
}

BuildOptions tokenizer_build_options(const nlohmann::json& c, int workers) {
  const MimConfig m = mim_preset(c["model"]["preset"].get<std::string>());
  const nlohmann::json& t = c["tokenizer"];
  BuildOptions b;
  PixelKMeansOptions& o = b.fit;
  o.vocab = t["vocab"].get<int64_t>();
  o.patch_size = m.encoder.patch_size;
  o.image_size = m.encoder.image_size;
  o.normalize_patches = t["normalize_patches"].get<bool>();
  o.max_patches = t["max_patches"].get<int64_t>();
  o.iterations = t["iterations"].get<int>();
  o.seed = t["seed"].get<uint64_t>();
  o.workers = workers;
  b.random_seed = o.seed;
  b.teacher = t["teacher"].get<std::string>();
  b.teacher_block = t["teacher_block"].get<int64_t>();
  b.teacher_heads = t["teacher_heads"].get<int64_t>();
  b.normalize_features = t["normalize_features"].get<bool>();
  return b;
}

PretrainOptions pretrain_options(const nlohmann::json& c, const std::string& out_dir, int workers) {
  const nlohmann::json& p = c["pretrain"];
  PretrainOptions o;
  o.epochs = p["epochs"].get<int64_t>();
  o.batch_size = p["batch_size"].get<int64_t>();
  o.blr = p["blr"].get<double>();
  o.min_lr = p["min_lr"].get<double>();
  o.warmup_epochs = p["warmup_epochs"].get<double>();
  o.weight_decay = p["weight_decay"].get<double>();
  o.label_smoothing = p["label_smoothing"].get<double>();
  o.clip_grad = p["clip_grad"].get<double>();
  o.bf16 = p["bf16"].get<bool>();
  o.seed = p["seed"].get<uint64_t>();
  o.keep_checkpoints = p["keep_checkpoints"].get<int>();
  o.checkpoint_every = p["checkpoint_every"].get<int64_t>();
  o.max_steps = p["max_steps"].get<int64_t>();
  o.max_bad_steps = p["max_bad_steps"].get<int>();
  o.workers = workers;
  o.out_dir = out_dir;
  CM_REQUIRE(o.epochs >= 1 && o.batch_size >= 1, "pretrain.epochs and pretrain.batch_size must be >= 1");
  return o;
}

KnnOptions knn_options(const nlohmann::json& c) {
  KnnOptions o;
  o.k = c["eval"]["knn_k"].get<int64_t>();
  o.temperature = c["eval"]["knn_temperature"].get<double>();
  return o;
}

LinearProbeOptions linear_options(const nlohmann::json& c) {
  LinearProbeOptions o;
  o.epochs = c["eval"]["linear_epochs"].get<int>();
  o.lr = c["eval"]["linear_lr"].get<double>();
  o.batch_size = c["eval"]["linear_batch"].get<int64_t>();
  o.optimizer = c["eval"]["linear_optimizer"].get<std::string>();
  return o;
}

}  // namespace clustermim
