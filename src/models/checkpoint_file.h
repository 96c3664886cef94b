/*
 * The training checkpoint file (".cmck"): the one place that knows its records and keys.
 *
 * A checkpoint is a "CMCK" tensor file (io/tensor_file.h) holding
 *   model/<name>                       every parameter and buffer of the model
 *   adamw/exp_avg/<name>               AdamW first moments   } when saved with an optimizer,
 *   adamw/exp_avg_sq/<name>            AdamW second moments  } meta "adamw_steps" its step count
 *   tokenizer/<tensor>                 the tokenizer that made the targets, meta "tokenizer"
 * and the meta keys "step", "epoch", "batch_in_epoch" (where training stands), "config" (the
 * caller's record of the run; "mim" and "stats" in it are the model spec that load_model and
 * load_encoder rebuild the model from) and "extra" (counters). Everything else reads and writes
 * checkpoints through this file: train/checkpoint.* names, rotates and resumes them,
 * tokenizers/tokenizer.* rebuilds the embedded tokenizer, models/vit_weights.* loads the encoder.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"
#include "models/mim.h"

namespace clustermim {

/// Where training stands.
struct TrainPosition {
  int64_t step = 0;            ///< optimizer steps taken
  int64_t epoch = 0;           ///< current epoch (0-based)
  int64_t batch_in_epoch = 0;  ///< batches of `epoch` already consumed
};

/// The model a checkpoint holds: its architecture and the per-channel statistics its input
/// images were normalized with.
struct CheckpointModelSpec {
  MimConfig mim;
  ChannelStats stats;
};

/// Everything a checkpoint carries apart from its tensors.
struct CheckpointInfo {
  TrainPosition position;
  nlohmann::json config = nlohmann::json::object();  ///< the caller's record of the run
  nlohmann::json extra = nlohmann::json::object();   ///< counters (skipped steps, ...)
  /// The model spec, stored inside `config` ("mim", "stats"); absent when the writer gave none.
  std::optional<CheckpointModelSpec> model;
};

/// One parameter's AdamW moments, named like the model parameter they belong to.
struct OptimizerMoments {
  std::string name;
  torch::Tensor exp_avg;     ///< first moment, the parameter's shape
  torch::Tensor exp_avg_sq;  ///< second moment, the parameter's shape
};

/// The optimizer state a checkpoint stores.
struct OptimizerState {
  int64_t steps = 0;                      ///< AdamW steps taken (bias correction)
  std::vector<OptimizerMoments> moments;  ///< one entry per optimized parameter
};

/// A checkpoint read and checked by load_checkpoint.
struct Checkpoint {
  CheckpointInfo info;                   ///< position, config, counters, model spec
  std::optional<int64_t> optimizer_steps;  ///< AdamW steps; absent when saved without optimizer
  TensorFile file;                       ///< the records, read through the functions below
  const std::string& source() const { return file.source; }
};

/// Writes a checkpoint atomically (temp file + rename): `model`'s parameters and buffers, the
/// optimizer state and the embedded tokenizer file (its meta and tensors; magic not stored) when
/// given, and `info` (info.model, when set, is stored as config "mim" / "stats").
void write_checkpoint(const std::string& path, torch::nn::Module& model,
                      const OptimizerState* optimizer, const TensorFile* tokenizer,
                      const CheckpointInfo& info);

/// Reads and validates a checkpoint (magic, CRC, position, model spec when present); throws
/// Error naming the file.
Checkpoint load_checkpoint(const std::string& path);

/// Error naming the file when `path` is not an intact checkpoint container (magic, CRC).
void check_checkpoint_file(const std::string& path);

/// The model spec of `checkpoint`; Error naming the file when it records none.
const CheckpointModelSpec& checkpoint_model_spec(const Checkpoint& checkpoint);

/// Copies the model tensors into `model`; every parameter and buffer must be present with the
/// same shape (Error naming the file and tensor otherwise).
void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model);

/// The model a checkpoint holds, rebuilt from its spec and weights (on the CPU).
MimModel load_model(const Checkpoint& checkpoint);

/// Copies the stored AdamW moments of parameter `moments.name` into moments.exp_avg and
/// moments.exp_avg_sq (same shapes; Error naming the file and tensor otherwise).
void restore_moments(const Checkpoint& checkpoint, OptimizerMoments& moments);

/// The encoder's weights under their timm names (the model's "encoder.*" tensors), as
/// load_encoder_weights takes them; source = the checkpoint's path.
SafetensorsFile checkpoint_encoder_weights(const Checkpoint& checkpoint);

/// The embedded tokenizer file (meta and tensors; magic empty, source = the checkpoint's
/// path), or nothing when the checkpoint has none.
std::optional<TensorFile> checkpoint_tokenizer_file(const Checkpoint& checkpoint);

}  // namespace clustermim
