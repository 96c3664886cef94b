/*
 * The run config's defaults are the option structs' defaults, and every key reaches a field:
 * read the default config back through the accessors and get default-constructed structs; change
 * any one key and see the structs change; a key the accessors do not read, or a struct default
 * the config does not follow, fails here. Also: the random tokenizer's K without a request K is
 * the config's tokenizer.vocab (it was 256 against 64), and unknown keys stay errors.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "cli/run_config.h"
#include "support/fixtures.h"
#include "tokenizers/feature_kmeans.h"

namespace clustermim {
namespace {

using testing::error_of;

/// Every FinetuneOptions field the config fills.
nlohmann::json finetune_view(const FinetuneOptions& f) {
  const AugmentOptions& crop = f.augment.crop;
  const RandAugmentOptions& ra = f.augment.rand_augment;
  const MixupOptions& m = f.mixup;
  return {f.epochs, f.batch_size, f.train_images, f.accum_steps, f.blr, f.min_lr, f.warmup_epochs, f.layer_decay,
          f.weight_decay, f.drop_path, f.pooling, f.clip_grad, f.bf16, f.seed, f.eval_batch,
          f.workers, f.out_dir, f.keep_checkpoints, f.checkpoint_every, f.max_steps,
          f.max_bad_steps, crop.scale_min, crop.scale_max, crop.ratio_min, crop.ratio_max,
          crop.hflip, ra.ops, ra.magnitude, ra.magnitude_std, ra.prob,
          f.augment.erasing.probability, m.mixup_alpha, m.cutmix_alpha, m.prob, m.switch_prob,
          m.label_smoothing};
}

/// The data.* options as JSON (channel_stats: null = auto, else [mean, std]).
nlohmann::json data_view(const DataOptions& d) {
  nlohmann::json stats = nullptr;
  if (d.channel_stats) stats = {d.channel_stats->mean, d.channel_stats->std};
  return {storage_name(d.storage), d.memory_budget_gb, d.crop_ratio, d.max_bad_fraction, stats};
}

/// Every option struct field the accessors fill, as one JSON object (the test's view).
nlohmann::json accessor_view(const nlohmann::json& c) {
  const MimConfig m = model_config(c, "clustermim");
  const BuildOptions b = tokenizer_build_options(c);
  const PretrainOptions p = pretrain_options(c, "out");
  const EncoderEvalOptions e = eval_options(c);
  const LinearProbeOptions& l = e.linear_options;
  const FinetuneOptions f = finetune_options(c, "out");
  return {
      {"model", {m.mask_ratio, m.norm_pix, m.vocab, to_json(m.encoder), m.decoder.dim,
                 m.decoder.depth, m.decoder.heads}},
      {"tokenizer",
       {b.fit.vocab, b.fit.normalize_patches, b.fit.max_patches, b.fit.iterations, b.fit.seed,
        b.fit.workers, b.random_seed, b.teacher, b.teacher_block, b.teacher_heads,
        b.normalize_features}},
      {"pretrain",
       {p.epochs, p.batch_size, p.accum_steps, p.blr, p.min_lr, p.warmup_epochs, p.weight_decay,
        p.label_smoothing, p.clip_grad, p.bf16, p.seed, p.workers, p.out_dir,
        p.keep_checkpoints, p.checkpoint_every, p.max_steps, p.max_bad_steps}},
      {"augment",
       {p.augment.scale_min, p.augment.scale_max, p.augment.ratio_min, p.augment.ratio_max,
        p.augment.hflip}},
      {"eval",
       {e.features.batch_size, e.features.bf16, e.features.workers, e.features.image_size,
        feature_dtype_name(e.features.feature_dtype), pooling_name(e.pooling), e.knn, e.linear,
        e.cache_dir, e.knn_options.k, e.knn_options.temperature, e.knn_options.chunk, l.epochs,
        l.batch_size, l.lr, l.momentum, l.weight_decay, l.optimizer, l.trust_coefficient,
        l.warmup_epochs, l.seed, run_eval_options(c).finetune_epochs}},
      {"finetune", finetune_view(f)},
      {"data", data_view(data_options(c))},
  };
}

/// The same view of default-constructed structs (out_dir "out" as passed above); data.workers
/// reaches the workers of all three, so their defaults must agree.
nlohmann::json struct_view() {
  MimConfig m;
  const MimConfig shape = mim_preset("vit-tiny-28");  // the default model.preset
  BuildOptions b;
  PretrainOptions p;
  p.out_dir = "out";
  EncoderEvalOptions e;
  const LinearProbeOptions& l = e.linear_options;
  FinetuneOptions f;
  f.out_dir = "out";
  return {
      {"model", {m.mask_ratio, m.norm_pix, kDefaultVocab, to_json(shape.encoder),
                 shape.decoder.dim, shape.decoder.depth, shape.decoder.heads}},
      {"tokenizer",
       {b.fit.vocab, b.fit.normalize_patches, b.fit.max_patches, b.fit.iterations, b.fit.seed,
        b.fit.workers, b.random_seed, b.teacher, b.teacher_block, b.teacher_heads,
        b.normalize_features}},
      {"pretrain",
       {p.epochs, p.batch_size, p.accum_steps, p.blr, p.min_lr, p.warmup_epochs, p.weight_decay,
        p.label_smoothing, p.clip_grad, p.bf16, p.seed, p.workers, p.out_dir,
        p.keep_checkpoints, p.checkpoint_every, p.max_steps, p.max_bad_steps}},
      {"augment",
       {p.augment.scale_min, p.augment.scale_max, p.augment.ratio_min, p.augment.ratio_max,
        p.augment.hflip}},
      {"eval",
       {e.features.batch_size, e.features.bf16, e.features.workers, e.features.image_size,
        feature_dtype_name(e.features.feature_dtype), pooling_name(e.pooling), e.knn, e.linear,
        e.cache_dir, e.knn_options.k, e.knn_options.temperature, e.knn_options.chunk, l.epochs,
        l.batch_size, l.lr, l.momentum, l.weight_decay, l.optimizer, l.trust_coefficient,
        l.warmup_epochs, l.seed, RunEvalOptions().finetune_epochs}},
      {"finetune", finetune_view(f)},
      {"data", data_view(DataOptions{})},
  };
}

/// Dotted paths of every leaf of `config`.
void leaves(const nlohmann::json& config, const std::string& prefix,
            std::vector<std::string>& out) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      leaves(*it, path, out);
    } else {
      out.push_back(path);
    }
  }
}

/// A valid value other than `value` for the key `path`, as a `--set` right-hand side.
std::string other_value(const std::string& path, const nlohmann::json& value) {
  if (path == "eval.linear_optimizer") return "lars";
  if (path == "eval.pooling") return "mean";
  // Model shape keys (0 = the preset's): values that make a valid model with vit-tiny-28.
  if (path == "model.image_size") return "32";
  if (path == "model.patch_size") return "7";
  if (path == "model.width" || path == "model.decoder_width") return "64";
  if (path == "model.heads") return "8";
  if (path == "finetune.pooling") return "cls";
  if (path == "data.storage") return "stream";
  if (path == "eval.feature_dtype") return "float16";
  if (path == "data.channel_stats") return "imagenet";
  if (value.is_boolean()) return value.get<bool>() ? "false" : "true";
  if (value.is_number_float()) {
    const double v = value.get<double>();
    return nlohmann::json(v == 0 ? 0.5 : v * 0.9).dump();
  }
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>() + 1);
  if (value.is_string()) return value.get<std::string>() + "x";
  return "";
}

TEST(ConfigDefaults, AreTheOptionStructsDefaults) {
  const nlohmann::json c = default_run_config();
  EXPECT_EQ(accessor_view(c), struct_view());
  // config.json shows the struct's float as written in the struct (0.2, not 0.20000000298).
  EXPECT_EQ(c["augment"]["scale_min"].dump(), "0.2");
  // One K for every kind that takes one.
  EXPECT_EQ(PixelKMeansOptions{}.vocab, kDefaultVocab);
  EXPECT_EQ(FeatureKMeansOptions{}.vocab, kDefaultVocab);
}

TEST(ConfigDefaults, RandomTokenizerKIsTheConfigsVocab) {
  const Dataset d = testing::make_color_dataset(4, 8, 2);
  BuildOptions o;
  o.fit.patch_size = 4;
  const auto random = build_tokenizer(parse_tokenizer_request("random"), d,
                                      compute_channel_stats(d), o, torch::kCPU);
  EXPECT_EQ(random->spec().vocab, default_run_config()["tokenizer"]["vocab"].get<int64_t>());
}

TEST(ConfigDefaults, EveryKeyReachesAnOption) {
  // Keys the commands read themselves, not through these accessors.
  const std::set<std::string> read_by_commands = {
      "data.dataset", "data.train_split", "data.eval_split", "model.preset", "tokenizer.kind",
      "tokenizer.file", "tokenizer.bootstrap_block", "run.methods", "run.rounds", "run.out_dir"};
  const nlohmann::json defaults = default_run_config();
  const nlohmann::json base = accessor_view(defaults);
  std::vector<std::string> keys;
  leaves(defaults, "", keys);
  for (const std::string& key : read_by_commands) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key << " is gone";
  }
  for (const std::string& key : keys) {
    if (read_by_commands.count(key) > 0) continue;
    std::string pointer = "/" + key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    const std::string set =
        key + "=" + other_value(key, defaults[nlohmann::json::json_pointer(pointer)]);
    const nlohmann::json changed = load_run_config("", {set});
    EXPECT_NE(accessor_view(changed), base) << "--set " << set << " changes no option";
  }
}

TEST(ConfigDefaults, NewKeysReachTheirFields) {
  const nlohmann::json c = load_run_config(
      "", {"augment.scale_min=0.5", "augment.hflip=false", "eval.linear_momentum=0.8",
           "eval.linear_weight_decay=0.001", "eval.linear_warmup_epochs=3", "eval.linear_seed=7",
           "eval.feature_batch=64", "data.workers=5"});
  const PretrainOptions p = pretrain_options(c, "out");
  EXPECT_EQ(p.workers, 5);
  EXPECT_EQ(tokenizer_build_options(c).fit.workers, 5);
  EXPECT_FLOAT_EQ(p.augment.scale_min, 0.5f);
  EXPECT_FALSE(p.augment.hflip);
  const EncoderEvalOptions e = eval_options(c);
  EXPECT_DOUBLE_EQ(e.linear_options.momentum, 0.8);
  EXPECT_DOUBLE_EQ(e.linear_options.weight_decay, 0.001);
  EXPECT_EQ(e.linear_options.warmup_epochs, 3);
  EXPECT_EQ(e.linear_options.seed, 7u);
  EXPECT_EQ(e.features.batch_size, 64);
  EXPECT_EQ(e.features.workers, 5);
}

TEST(ConfigDefaults, DataStorageKeys) {
  const DataOptions d = data_options(default_run_config());
  EXPECT_EQ(d.storage, Storage::kAuto);
  EXPECT_DOUBLE_EQ(d.memory_budget_gb, 4);
  EXPECT_EQ(d.crop_ratio, 0.f) << "0 = the source's default crop ratio";
  EXPECT_DOUBLE_EQ(d.max_bad_fraction, 0.001);
  EXPECT_FALSE(d.channel_stats.has_value()) << "auto";
  const DataOptions s = data_options(load_run_config(
      "", {"data.storage=stream", "data.memory_budget_gb=0.5", "data.crop_ratio=0.875",
           "data.channel_stats=0.5,0.25,0.125/0.2,0.3,0.4"}));
  EXPECT_EQ(s.storage, Storage::kStream);
  EXPECT_DOUBLE_EQ(s.memory_budget_gb, 0.5);
  const nlohmann::json bad = load_run_config("", {"data.max_bad_fraction=0.25"});
  EXPECT_DOUBLE_EQ(pretrain_options(bad, "out").max_bad_fraction, 0.25);
  EXPECT_DOUBLE_EQ(finetune_options(bad, "out").max_bad_fraction, 0.25);
  EXPECT_DOUBLE_EQ(tokenizer_build_options(bad).fit.max_bad_fraction, 0.25);
  EXPECT_FLOAT_EQ(s.crop_ratio, 0.875f);
  ASSERT_TRUE(s.channel_stats.has_value());
  EXPECT_FLOAT_EQ(s.channel_stats->mean[2], 0.125f);
  EXPECT_FLOAT_EQ(s.channel_stats->std[0], 0.2f);
  const auto imagenet = parse_channel_stats("imagenet");
  ASSERT_TRUE(imagenet.has_value());
  EXPECT_FLOAT_EQ(imagenet->mean[0], 0.485f);
  EXPECT_FLOAT_EQ(imagenet->std[2], 0.225f);
  for (const std::string bad : {"data.storage=disk", "data.crop_ratio=1.5",
                                "data.channel_stats=0.5,0.5/0.2,0.2,0.2",
                                "data.channel_stats=0.5,0.5,0.5/0.2,0,0.2",
                                "data.max_bad_fraction=-1"}) {
    const nlohmann::json c = load_run_config("", {bad});
    const std::string message = error_of([&] { data_options(c); });
    const std::string key = bad.substr(0, bad.find('='));
    EXPECT_NE(message.find(key), std::string::npos) << bad << ": " << message;
  }
}

TEST(ConfigDefaults, UnknownAndInvalidKeysAreErrors) {
  const std::string unknown = error_of([] { load_run_config("", {"augment.scale=0.5"}); });
  EXPECT_NE(unknown.find("augment.scale"), std::string::npos) << unknown;
  const std::string type = error_of([] { load_run_config("", {"eval.linear_seed=1.5"}); });
  EXPECT_NE(type.find("eval.linear_seed"), std::string::npos) << type;
  const nlohmann::json bad_crop = load_run_config("", {"augment.scale_min=0.9", "augment.scale_max=0.5"});
  const std::string crop = error_of([&] { pretrain_options(bad_crop, "out"); });
  EXPECT_NE(crop.find("augment"), std::string::npos) << crop;
  const nlohmann::json bad_batch = load_run_config("", {"eval.feature_batch=0"});
  const std::string batch = error_of([&] { eval_options(bad_batch); });
  EXPECT_NE(batch.find("eval.feature_batch"), std::string::npos) << batch;
  const nlohmann::json no_workers = load_run_config("", {"data.workers=0"});
  const std::string workers = error_of([&] { pretrain_options(no_workers, "out"); });
  EXPECT_NE(workers.find("data.workers"), std::string::npos) << workers;
}

}  // namespace
}  // namespace clustermim
