/*
 * The steps `pretrain`, `eval` and `run` compose: prepare a tokenizer, pretrain one method
 * (resuming from the newest checkpoint in its folder), score a frozen encoder with k-NN and
 * a linear probe on cached features, and fine-tune a copy of it (`run`'s eval.finetune_epochs).
 */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "data/image_source.h"
#include "eval/encoder_eval.h"
#include "models/mim.h"
#include "tokenizers/feature_kmeans.h"
#include "tokenizers/tokenizer.h"
#include "train/checkpoint.h"
#include "train/finetune.h"
#include "train/pretrain.h"

namespace clustermim {

/// How an error about a file in `out_dir` made under other settings says to start over.
std::string fresh_hint(const std::string& out_dir);

/// The run's tokenizer: out_dir/tokenizer.cmtk when it was made from the current settings (Error
/// naming what differs otherwise), else `tokenizer.file` or `tokenizer.kind` fitted on `train`
/// and saved there with its provenance.
std::unique_ptr<Tokenizer> prepare_run_tokenizer(const nlohmann::json& config,
                                                 const ImageSource& train,
                                                 const ChannelStats& stats,
                                                 const std::string& out_dir, torch::Device device);

/// Feature K-means settings of a bootstrapped round (tokenizer.*, the model's geometry,
/// pretrain.bf16); the block is set by the round's block choice.
FeatureKMeansOptions round_feature_options(const nlohmann::json& config);

/// `--fresh`: deletes what pretrain and run write in `out_dir` (tokenizers, method folders with
/// checkpoints or metrics, their own or a fine-tune's in <method>/finetune, block choices,
/// reports, config.json); other files stay.
void clear_run_outputs(const std::string& out_dir);

/// A pretrained (or random-init) model and how it was made.
struct MethodResult {
  MimModel model{nullptr};
  PretrainResult pretrain;   ///< steps == 0 for random-init
  std::string dir;           ///< where its checkpoints and metrics are
};

/// Pretrains `method` in out_dir/<method>, resuming from a checkpoint there; "random-init" only
/// builds the model (seeded by pretrain.seed). `group`: data-parallel ranks (null = alone).
MethodResult run_method(const nlohmann::json& config, const std::string& method,
                        const Tokenizer* tokenizer, const ImageSource& train,
                        const ChannelStats& stats,
                        const std::string& out_dir, torch::Device device,
                        DistributedGroup* group = nullptr);

/// The evaluation settings of `config` (eval.*): `which` is "knn", "linear" or "both";
/// `cache_dir` holds the fingerprinted feature files ("" = none).
EncoderEvalOptions encoder_eval_options(const nlohmann::json& config,
                                        const std::string& cache_dir,
                                        const std::string& which = "both");

/// `run`'s fine-tuning of one method: a classifier on a copy of `encoder` (seeded by
/// finetune.seed, the encoder itself is not changed) trained in `dir` for `epochs` epochs with
/// the finetune.* recipe on `train`, scored on `test` after every epoch. A checkpoint in `dir`
/// made from the same encoder under the same settings and epochs is resumed; one made otherwise
/// (the pretraining went on, a finetune.* key or the epochs changed) is deleted with a warning
/// naming what differs, and the fine-tune starts over.
FinetuneResult finetune_encoder(const nlohmann::json& config, int64_t epochs,
                                VisionTransformer& encoder, const ImageSource& train,
                                const ImageSource& test, const ChannelStats& stats,
                                const std::string& dir, torch::Device device);

}  // namespace clustermim
