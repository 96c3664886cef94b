/*
 * The steps `pretrain`, `eval` and `run` compose: prepare a tokenizer, pretrain one method
 * (resuming from the newest checkpoint in its folder), and score a frozen encoder with k-NN and
 * a linear probe on cached features.
 */
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/mim.h"
#include "tokenizers/tokenizer.h"
#include "train/checkpoint.h"
#include "train/pretrain.h"

namespace clustermim {

/// Loads `tokenizer.file` or fits `tokenizer.kind` on `train`; saves it as out_dir/tokenizer.cmtk
/// (reused when present and matching).
std::unique_ptr<Tokenizer> prepare_tokenizer(const nlohmann::json& config, const Dataset& train,
                                             const ChannelStats& stats, const std::string& out_dir,
                                             torch::Device device, int workers);

/// A pretrained (or random-init) model and how it was made.
struct MethodResult {
  MimModel model{nullptr};
  PretrainResult pretrain;   ///< steps == 0 for random-init
  std::string dir;           ///< where its checkpoints and metrics are
};

/// Pretrains `method` in out_dir/<method>, resuming from a checkpoint there; "random-init" only
/// builds the model (seeded by pretrain.seed). `group`: data-parallel ranks (null = alone).
MethodResult run_method(const nlohmann::json& config, const std::string& method,
                        const Tokenizer* tokenizer, const Dataset& train, const ChannelStats& stats,
                        const std::string& out_dir, torch::Device device, int workers,
                        DistributedGroup* group = nullptr);

/// Rebuilds the model saved in a checkpoint (its config and weights) and the stats it used.
MimModel model_from_checkpoint(const Checkpoint& checkpoint, ChannelStats* stats);

/// k-NN and linear-probe scores of a frozen encoder.
struct EncoderScores {
  double knn_top1 = 0, knn_top5 = 0, linear_top1 = 0, linear_top5 = 0, seconds = 0;
};

/// Extracts features of train and eval splits (cached in `cache_dir` when non-empty) and runs
/// k-NN and the linear probe with the config's eval settings.
EncoderScores evaluate_encoder(VisionTransformer& encoder, const Dataset& train, const Dataset& test,
                               const ChannelStats& stats, const nlohmann::json& config,
                               torch::Device device, int workers, const std::string& cache_dir,
                               const std::string& which = "both");

}  // namespace clustermim
