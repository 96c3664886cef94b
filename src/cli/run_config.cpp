/*
 * Run configuration defaults and typed accessors (see run_config.h). Every default below is read
 * off a default-constructed option struct; only the settings no struct holds (which data, which
 * model preset, which tokenizer kind, the run's methods) are written here.
 */
#include "cli/run_config.h"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <sstream>
#include <type_traits>

#include "backend/runtime.h"
#include "core/error.h"
#include "io/config.h"

namespace clustermim {

namespace {

/// A float field as the shortest decimal that reads back to the same float (0.2f -> 0.2, not
/// 0.20000000298), so config.json shows what the struct says.
double shortest(float value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof(text), value).ptr;
  return std::stod(std::string(text, end));
}

nlohmann::json augment_defaults() {
  const AugmentOptions a;
  return {{"scale_min", shortest(a.scale_min)}, {"scale_max", shortest(a.scale_max)},
          {"ratio_min", shortest(a.ratio_min)}, {"ratio_max", shortest(a.ratio_max)},
          {"hflip", a.hflip}};
}

nlohmann::json tokenizer_defaults() {
  const BuildOptions b;
  const PixelKMeansOptions& f = b.fit;
  return {{"kind", "pixel-kmeans"}, {"vocab", kDefaultVocab},
          {"normalize_patches", f.normalize_patches}, {"max_patches", f.max_patches},
          {"iterations", f.iterations}, {"seed", f.seed}, {"file", ""}, {"teacher", b.teacher},
          {"teacher_block", b.teacher_block}, {"teacher_heads", b.teacher_heads},
          {"normalize_features", b.normalize_features}, {"bootstrap_block", "auto"}};
}

nlohmann::json pretrain_defaults() {
  const PretrainOptions p;
  return {{"epochs", p.epochs}, {"batch_size", p.batch_size},
          {"accum_steps", p.accum_steps}, {"blr", p.blr},
          {"min_lr", p.min_lr}, {"warmup_epochs", p.warmup_epochs},
          {"weight_decay", p.weight_decay}, {"label_smoothing", p.label_smoothing},
          {"clip_grad", p.clip_grad}, {"bf16", p.bf16}, {"seed", p.seed},
          {"keep_checkpoints", p.keep_checkpoints}, {"checkpoint_every", p.checkpoint_every},
          {"max_steps", p.max_steps}, {"max_bad_steps", p.max_bad_steps}};
}

nlohmann::json eval_defaults() {
  const EncoderEvalOptions e;
  const KnnOptions& k = e.knn_options;
  const LinearProbeOptions& l = e.linear_options;
  return {{"knn_k", k.k}, {"knn_temperature", k.temperature},
          {"linear_epochs", l.epochs}, {"linear_lr", l.lr}, {"linear_batch", l.batch_size},
          {"linear_optimizer", l.optimizer}, {"linear_momentum", l.momentum},
          {"linear_weight_decay", l.weight_decay}, {"linear_warmup_epochs", l.warmup_epochs},
          {"linear_trust_coefficient", l.trust_coefficient}, {"linear_seed", l.seed},
          {"pooling", pooling_name(e.pooling)}, {"bf16", e.features.bf16},
          {"feature_batch", e.features.batch_size},
          {"feature_dtype", feature_dtype_name(e.features.feature_dtype)},
          {"finetune_epochs", RunEvalOptions().finetune_epochs}};
}

nlohmann::json finetune_defaults() {
  const FinetuneOptions f;
  const AugmentOptions& crop = f.augment.crop;
  const RandAugmentOptions& ra = f.augment.rand_augment;
  const MixupOptions& m = f.mixup;
  return {{"epochs", f.epochs}, {"batch_size", f.batch_size},
          {"train_images", f.train_images}, {"accum_steps", f.accum_steps}, {"blr", f.blr},
          {"min_lr", f.min_lr}, {"warmup_epochs", f.warmup_epochs},
          {"layer_decay", f.layer_decay}, {"weight_decay", f.weight_decay},
          {"drop_path", f.drop_path}, {"pooling", f.pooling}, {"clip_grad", f.clip_grad},
          {"bf16", f.bf16}, {"seed", f.seed}, {"eval_batch", f.eval_batch},
          {"keep_checkpoints", f.keep_checkpoints}, {"checkpoint_every", f.checkpoint_every},
          {"max_steps", f.max_steps}, {"max_bad_steps", f.max_bad_steps},
          {"scale_min", shortest(crop.scale_min)}, {"scale_max", shortest(crop.scale_max)},
          {"ratio_min", shortest(crop.ratio_min)}, {"ratio_max", shortest(crop.ratio_max)},
          {"hflip", crop.hflip}, {"rand_augment_ops", ra.ops},
          {"rand_augment_magnitude", ra.magnitude}, {"rand_augment_std", ra.magnitude_std},
          {"rand_augment_prob", ra.prob}, {"erasing", f.augment.erasing.probability},
          {"mixup", m.mixup_alpha}, {"cutmix", m.cutmix_alpha}, {"mixup_prob", m.prob},
          {"mixup_switch_prob", m.switch_prob}, {"label_smoothing", m.label_smoothing}};
}

nlohmann::json data_defaults() {
  const DataOptions d;
  return {{"dataset", "fashion-mnist"}, {"train_split", "train"}, {"eval_split", "test"},
          {"workers", PretrainOptions().workers}, {"storage", storage_name(d.storage)},
          {"memory_budget_gb", d.memory_budget_gb}, {"crop_ratio", shortest(d.crop_ratio)},
          {"max_bad_fraction", d.max_bad_fraction}, {"channel_stats", "auto"}};
}

/// Three comma-separated numbers of data.channel_stats.
std::array<float, 3> three_numbers(const std::string& text, const std::string& what,
                                   const std::string& whole) {
  std::array<float, 3> out{};
  std::stringstream in(text);
  std::string item;
  size_t n = 0;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const float value = std::strtof(item.c_str(), &end);
    CM_REQUIRE(n < 3 && !item.empty() && *end == '\0', what, ": '", whole,
               "' is not auto, imagenet or m0,m1,m2/s0,s1,s2");
    out[n++] = value;
  }
  CM_REQUIRE(n == 3, what, ": '", whole, "' is not auto, imagenet or m0,m1,m2/s0,s1,s2");
  return out;
}

}  // namespace

std::optional<ChannelStats> parse_channel_stats(const std::string& text, const std::string& what) {
  if (text == "auto") return std::nullopt;
  if (text == "imagenet") return ChannelStats{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
  const size_t slash = text.find('/');
  CM_REQUIRE(slash != std::string::npos, what, ": '", text,
             "' is not auto, imagenet or m0,m1,m2/s0,s1,s2");
  ChannelStats s;
  const auto mean = three_numbers(text.substr(0, slash), what, text);
  const auto spread = three_numbers(text.substr(slash + 1), what, text);
  for (int c = 0; c < 3; ++c) {
    CM_REQUIRE(mean[c] >= 0 && mean[c] <= 1 && spread[c] > 0 && spread[c] <= 1, what, ": '", text,
               "': a mean must lie in [0, 1] and a std in (0, 1]");
    s.mean[c] = mean[c];
    s.std[c] = spread[c];
  }
  return s;
}

DataOptions data_options(const nlohmann::json& c) {
  const nlohmann::json& d = c["data"];
  DataOptions o;
  o.storage = parse_storage(d["storage"].get<std::string>(), "data.storage");
  o.memory_budget_gb = d["memory_budget_gb"].get<double>();
  CM_REQUIRE(o.memory_budget_gb >= 0, "data.memory_budget_gb must be >= 0, got ",
             o.memory_budget_gb);
  o.crop_ratio = d["crop_ratio"].get<float>();
  CM_REQUIRE(o.crop_ratio >= 0 && o.crop_ratio <= 1,
             "data.crop_ratio must lie in (0, 1] (0 = the source's default), got ", o.crop_ratio);
  o.max_bad_fraction = d["max_bad_fraction"].get<double>();
  CM_REQUIRE(o.max_bad_fraction >= 0 && o.max_bad_fraction <= 1,
             "data.max_bad_fraction must lie in [0, 1], got ", o.max_bad_fraction);
  o.channel_stats = parse_channel_stats(d["channel_stats"].get<std::string>());
  return o;
}

nlohmann::json default_run_config() {
  const MimConfig m;
  return {
      {"data", data_defaults()},
      {"model", {{"preset", "vit-tiny-28"}, {"image_size", 0}, {"patch_size", 0}, {"depth", 0},
                 {"width", 0}, {"heads", 0}, {"mlp_ratio", 0.0}, {"decoder_depth", 0},
                 {"decoder_width", 0}, {"decoder_heads", 0}, {"mask_ratio", m.mask_ratio},
                 {"norm_pix", m.norm_pix}}},
      {"tokenizer", tokenizer_defaults()},
      {"pretrain", pretrain_defaults()},
      {"augment", augment_defaults()},
      {"eval", eval_defaults()},
      {"finetune", finetune_defaults()},
      {"run", {{"methods", {"clustermim", "mae", "random-init"}}, {"rounds", 1}, {"out_dir", "runs/run"}}},
  };
}

nlohmann::json load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  const nlohmann::json file = path.empty() ? nlohmann::json() : load_toml_file(path);
  return resolve_config(default_run_config(), file, overrides, path.empty() ? "--set" : path);
}

std::vector<std::string> resolve_bf16(nlohmann::json& config, bool native) {
  std::vector<std::string> off;
  if (native) return off;
  for (const char* section : {"pretrain", "eval", "finetune"}) {
    nlohmann::json& bf16 = config[section]["bf16"];
    if (!bf16.get<bool>()) continue;
    bf16 = false;
    off.push_back(std::string(section) + ".bf16");
  }
  return off;
}

void apply_device_precision(nlohmann::json& config, torch::Device device) {
  const std::vector<std::string> off = resolve_bf16(config, native_bf16(device));
  if (off.empty()) return;
  std::string keys;
  for (const std::string& key : off) keys += (keys.empty() ? "" : ", ") + key;
  spdlog::warn("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 autocast would be emulated,"
               " many times slower than fp32; computing in fp32 ({} set to false)", keys);
}

MimConfig model_shape(const nlohmann::json& c) {
  const nlohmann::json& j = c["model"];
  MimConfig m = mim_preset(j["preset"].get<std::string>());
  auto take = [&](const char* key, auto& field) {
    const auto value = j[key].get<std::decay_t<decltype(field)>>();
    CM_REQUIRE(value >= 0, "model.", key, " must be positive (0 = the preset's), got ", value);
    if (value > 0) field = value;
  };
  VitConfig& e = m.encoder;
  DecoderConfig& d = m.decoder;
  take("image_size", e.image_size);
  take("patch_size", e.patch_size);
  take("depth", e.depth);
  take("width", e.dim);
  take("heads", e.heads);
  take("mlp_ratio", e.mlp_ratio);
  take("decoder_depth", d.depth);
  take("decoder_width", d.dim);
  take("decoder_heads", d.heads);
  CM_REQUIRE(e.image_size % e.patch_size == 0, "model.patch_size ", e.patch_size,
             " does not divide model.image_size ", e.image_size);
  CM_REQUIRE(e.dim % e.heads == 0, "model.width ", e.dim, " is not a multiple of model.heads ",
             e.heads);
  CM_REQUIRE(e.dim % 4 == 0, "model.width ", e.dim,
             " must be a multiple of 4 (2-D sin-cos position embedding)");
  CM_REQUIRE(d.dim % d.heads == 0, "model.decoder_width ", d.dim,
             " is not a multiple of model.decoder_heads ", d.heads);
  CM_REQUIRE(d.dim % 4 == 0, "model.decoder_width ", d.dim,
             " must be a multiple of 4 (2-D sin-cos position embedding)");
  return m;
}

std::string model_name(const nlohmann::json& c) {
  const std::string preset = c["model"]["preset"].get<std::string>();
  const MimConfig m = model_shape(c);  // the preset's, with the shape keys applied
  if (to_json(m) == to_json(mim_preset(preset))) return preset;
  const VitConfig& e = m.encoder;
  const DecoderConfig& d = m.decoder;
  return str_cat(preset, " reshaped: ", e.image_size, " px, patch ", e.patch_size, ", ", e.dim,
                 "-d x ", e.depth, ", ", e.heads, " heads, mlp ", e.mlp_ratio, "; decoder ", d.dim,
                 "-d x ", d.depth, ", ", d.heads, " heads");
}

MimConfig model_config(const nlohmann::json& c, const std::string& method) {
  const bool round = method.rfind("clustermim-r", 0) == 0;  // a bootstrapped round (run.rounds)
  CM_REQUIRE(method == "clustermim" || method == "mae" || method == "random-init" || round,
             "unknown method '", method, "' (expected clustermim, mae or random-init)");
  MimConfig m = model_shape(c);
  m.mask_ratio = c["model"]["mask_ratio"].get<double>();
  m.norm_pix = c["model"]["norm_pix"].get<bool>();
  m.target = method == "mae" ? "pixels" : "tokens";
  m.vocab = c["tokenizer"]["vocab"].get<int64_t>();
  return m;
}

int data_workers(const nlohmann::json& c) {
  const int workers = c["data"]["workers"].get<int>();
  CM_REQUIRE(workers >= 1, "data.workers must be >= 1, got ", workers);
  return workers;
}

BuildOptions tokenizer_build_options(const nlohmann::json& c) {
  const MimConfig m = model_shape(c);
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
  o.workers = data_workers(c);
  o.max_bad_fraction = data_options(c).max_bad_fraction;
  b.random_seed = o.seed;
  b.teacher = t["teacher"].get<std::string>();
  b.teacher_block = t["teacher_block"].get<int64_t>();
  b.teacher_heads = t["teacher_heads"].get<int64_t>();
  b.normalize_features = t["normalize_features"].get<bool>();
  return b;
}

PretrainOptions pretrain_options(const nlohmann::json& c, const std::string& out_dir) {
  const nlohmann::json& p = c["pretrain"];
  PretrainOptions o;
  o.epochs = p["epochs"].get<int64_t>();
  o.batch_size = p["batch_size"].get<int64_t>();
  o.accum_steps = p["accum_steps"].get<int64_t>();
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
  const nlohmann::json& a = c["augment"];
  o.augment.scale_min = a["scale_min"].get<float>();
  o.augment.scale_max = a["scale_max"].get<float>();
  o.augment.ratio_min = a["ratio_min"].get<float>();
  o.augment.ratio_max = a["ratio_max"].get<float>();
  o.augment.hflip = a["hflip"].get<bool>();
  o.workers = data_workers(c);
  o.max_bad_fraction = data_options(c).max_bad_fraction;
  o.out_dir = out_dir;
  CM_REQUIRE(o.epochs >= 1 && o.batch_size >= 1, "pretrain.epochs and pretrain.batch_size must be >= 1");
  CM_REQUIRE(o.accum_steps >= 1, "pretrain.accum_steps must be >= 1, got ", o.accum_steps);
  validate(o.augment);
  return o;
}

EncoderEvalOptions eval_options(const nlohmann::json& c) {
  const nlohmann::json& e = c["eval"];
  EncoderEvalOptions o;
  o.features.batch_size = e["feature_batch"].get<int64_t>();
  o.features.bf16 = e["bf16"].get<bool>();
  o.features.feature_dtype = parse_feature_dtype(e["feature_dtype"].get<std::string>());
  o.features.workers = data_workers(c);
  CM_REQUIRE(o.features.batch_size >= 1, "eval.feature_batch must be >= 1, got ",
             o.features.batch_size);
  o.pooling = parse_pooling(e["pooling"].get<std::string>());
  o.knn_options = knn_options(c);
  o.linear_options = linear_options(c);
  return o;
}

RunEvalOptions run_eval_options(const nlohmann::json& c) {
  RunEvalOptions o;
  o.finetune_epochs = c["eval"]["finetune_epochs"].get<int64_t>();
  CM_REQUIRE(o.finetune_epochs >= 0, "eval.finetune_epochs must be >= 0 (0 = off), got ",
             o.finetune_epochs);
  return o;
}

KnnOptions knn_options(const nlohmann::json& c) {
  KnnOptions o;
  o.k = c["eval"]["knn_k"].get<int64_t>();
  o.temperature = c["eval"]["knn_temperature"].get<double>();
  return o;
}

FinetuneOptions finetune_options(const nlohmann::json& c, const std::string& out_dir) {
  const nlohmann::json& f = c["finetune"];
  FinetuneOptions o;
  o.epochs = f["epochs"].get<int64_t>();
  o.batch_size = f["batch_size"].get<int64_t>();
  o.train_images = f["train_images"].get<int64_t>();
  o.accum_steps = f["accum_steps"].get<int64_t>();
  o.blr = f["blr"].get<double>();
  o.min_lr = f["min_lr"].get<double>();
  o.warmup_epochs = f["warmup_epochs"].get<double>();
  o.layer_decay = f["layer_decay"].get<double>();
  o.weight_decay = f["weight_decay"].get<double>();
  o.drop_path = f["drop_path"].get<double>();
  o.pooling = f["pooling"].get<std::string>();
  o.clip_grad = f["clip_grad"].get<double>();
  o.bf16 = f["bf16"].get<bool>();
  o.seed = f["seed"].get<uint64_t>();
  o.eval_batch = f["eval_batch"].get<int64_t>();
  o.keep_checkpoints = f["keep_checkpoints"].get<int>();
  o.checkpoint_every = f["checkpoint_every"].get<int64_t>();
  o.max_steps = f["max_steps"].get<int64_t>();
  o.max_bad_steps = f["max_bad_steps"].get<int>();
  AugmentOptions& crop = o.augment.crop;
  crop.scale_min = f["scale_min"].get<float>();
  crop.scale_max = f["scale_max"].get<float>();
  crop.ratio_min = f["ratio_min"].get<float>();
  crop.ratio_max = f["ratio_max"].get<float>();
  crop.hflip = f["hflip"].get<bool>();
  RandAugmentOptions& ra = o.augment.rand_augment;
  ra.ops = f["rand_augment_ops"].get<int>();
  ra.magnitude = f["rand_augment_magnitude"].get<double>();
  ra.magnitude_std = f["rand_augment_std"].get<double>();
  ra.prob = f["rand_augment_prob"].get<double>();
  o.augment.erasing.probability = f["erasing"].get<double>();
  MixupOptions& m = o.mixup;
  m.mixup_alpha = f["mixup"].get<double>();
  m.cutmix_alpha = f["cutmix"].get<double>();
  m.prob = f["mixup_prob"].get<double>();
  m.switch_prob = f["mixup_switch_prob"].get<double>();
  m.label_smoothing = f["label_smoothing"].get<double>();
  o.workers = data_workers(c);
  o.max_bad_fraction = data_options(c).max_bad_fraction;
  o.out_dir = out_dir;
  validate(o);
  return o;
}

LinearProbeOptions linear_options(const nlohmann::json& c) {
  const nlohmann::json& e = c["eval"];
  LinearProbeOptions o;
  o.epochs = e["linear_epochs"].get<int>();
  o.lr = e["linear_lr"].get<double>();
  o.batch_size = e["linear_batch"].get<int64_t>();
  o.optimizer = e["linear_optimizer"].get<std::string>();
  o.momentum = e["linear_momentum"].get<double>();
  o.weight_decay = e["linear_weight_decay"].get<double>();
  o.warmup_epochs = e["linear_warmup_epochs"].get<int>();
  o.trust_coefficient = e["linear_trust_coefficient"].get<double>();
  o.seed = e["linear_seed"].get<uint64_t>();
  return o;
}

}  // namespace clustermim
