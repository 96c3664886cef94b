/*
 * The run configuration of `pretrain`, `eval` and `run`: defaults, file + `--set` overrides
 * (io/config.h), and the typed option structs read from it. The defaults are not written here:
 * default_run_config() reads them off default-constructed option structs (PretrainOptions,
 * AugmentOptions, EncoderEvalOptions with its KnnOptions, LinearProbeOptions and FeatureOptions,
 * BuildOptions with its PixelKMeansOptions, MimConfig, FinetuneOptions, RunEvalOptions), so
 * a struct and the config cannot disagree; tests/test_config_defaults.cpp checks that every key
 * reaches its field. `configs/*.toml` override parts of it.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <optional>

#include "data/image_split.h"
#include "data/loader.h"
#include "eval/encoder_eval.h"
#include "models/mim.h"
#include "tokenizers/tokenizer_factory.h"
#include "train/finetune.h"
#include "train/pretrain.h"

namespace clustermim {

/// What `run` adds to each method's frozen evaluation: the eval.* keys that no library struct
/// holds, with their defaults.
struct RunEvalOptions {
  int64_t finetune_epochs = 0;  ///< fine-tune every method's encoder (random-init: supervised
                                ///< from scratch) this many epochs with the finetune.* recipe,
                                ///< after k-NN and the linear probe; 0 = off
};

/// How every command reads its splits (the data.* keys besides which data and workers). The
/// defaults are SplitOptions' and LoaderOptions'.
struct DataOptions {
  Storage storage = SplitOptions().storage;  ///< auto | memory | stream (data.storage)
  double memory_budget_gb = SplitOptions().memory_budget_gb;  ///< auto: the most decoded pixels
                                                              ///< held in memory, GB (1e9 bytes)
  float crop_ratio = LoaderOptions().crop_ratio;  ///< evaluation crop (shorter side to S / ratio,
                                                  ///< center crop S); 0 = the source's default
                                                  ///< (1 in memory, 0.875 streamed)
  double max_bad_fraction = LoaderOptions().max_bad_fraction;  ///< of an epoch's samples that may
                                                               ///< be corrupt before it stops
  /// Normalization: nullopt = "auto" (exact over the split in memory, estimated from a sample of
  /// kChannelStatsSample images when streamed), else the given mean and std.
  std::optional<ChannelStats> channel_stats;
};

/// Images a streamed split's channel statistics are estimated from (data.channel_stats = auto).
constexpr int64_t kChannelStatsSample = 1000;

/// data.channel_stats: "auto", "imagenet" (mean 0.485 0.456 0.406, std 0.229 0.224 0.225) or six
/// numbers "m0,m1,m2/s0,s1,s2" (values in [0, 1], std > 0); nullopt for auto. Error naming `what`.
std::optional<ChannelStats> parse_channel_stats(const std::string& text,
                                                const std::string& what = "data.channel_stats");

/// The data.* options (Error naming the key when one makes no sense).
DataOptions data_options(const nlohmann::json& config);

/// Every setting with its default value (taken from the option structs' defaults).
nlohmann::json default_run_config();

/// Defaults <- `path` (empty = none) <- overrides.
nlohmann::json load_run_config(const std::string& path, const std::vector<std::string>& overrides);

/// For a device without native bf16 (backend/runtime.h native_bf16): turns off the bf16
/// switches that are on (pretrain.bf16, eval.bf16, finetune.bf16), so the run computes in fp32
/// and its saved config says so. Returns the keys it turned off; none when `native`.
std::vector<std::string> resolve_bf16(nlohmann::json& config, bool native);

/// resolve_bf16 for `device`, warning once with the keys it turned off.
void apply_device_precision(nlohmann::json& config, torch::Device device);

/// The model shape: model.preset, then each of model.image_size, patch_size, depth, width,
/// heads, mlp_ratio, decoder_depth, decoder_width, decoder_heads that is not 0 (0 = the
/// preset's value). A shape that cannot work is a one-line Error naming the key.
MimConfig model_shape(const nlohmann::json& config);

/// The model's name for logs and reports: model.preset when the shape keys leave its shape as it
/// is, else the shape, "vit-tiny-28 reshaped: 48 px, patch 8, 64-d x 2, 4 heads, mlp 4; decoder
/// 32-d x 1, 2 heads".
std::string model_name(const nlohmann::json& config);

/// The model of `method` ("clustermim" | "mae" | "random-init"): model_shape, with the mask
/// ratio, target and vocabulary from the config.
MimConfig model_config(const nlohmann::json& config, const std::string& method);

/// data.workers: the data-loader threads of every pass over a dataset (>= 1; `--workers N` on
/// the command line overrides it).
int data_workers(const nlohmann::json& config);

/// Tokenizer build options from the config (patch and image size from model_shape).
BuildOptions tokenizer_build_options(const nlohmann::json& config);

/// Pretraining options, augmentation included; `out_dir` is the method's folder.
PretrainOptions pretrain_options(const nlohmann::json& config, const std::string& out_dir);

/// Fine-tuning options (finetune.*: recipe, augmentation, mixing, checkpointing; data.workers);
/// `out_dir` is the fine-tuning folder. Error naming the key when a value makes no sense.
FinetuneOptions finetune_options(const nlohmann::json& config, const std::string& out_dir);

/// Evaluation options: feature extraction (batch, precision; image size 0 = the encoder's),
/// pooling, k-NN and linear probe; both protocols on, no cache folder.
EncoderEvalOptions eval_options(const nlohmann::json& config);

/// `run`'s own eval.* settings (Error naming the key when one makes no sense).
RunEvalOptions run_eval_options(const nlohmann::json& config);

/// The k-NN and linear-probe parts of eval_options.
KnnOptions knn_options(const nlohmann::json& config);
LinearProbeOptions linear_options(const nlohmann::json& config);

}  // namespace clustermim
