/*
 * Training checkpoints: one self-describing "CMCK" tensor file per save.
 *
 * A checkpoint holds the model's parameters and buffers ("model/<name>"), the AdamW moments
 * ("adamw/exp_avg/<name>", "adamw/exp_avg_sq/<name>") and step count, the training position
 * (global step, epoch, batch within the epoch), the resolved run config, and the tokenizer that
 * made the targets ("tokenizer/<tensor>" + its metadata), so a run can be resumed or evaluated
 * from this one file. No RNG state is stored because there is none to store: data order and
 * augmentation are functions of (seed, epoch, position) and masking of (seed, step).
 *
 * Files are written atomically as `ckpt-<step>.cmck`; the last N are kept. Loading checks the
 * CRC, so a file cut short by a kill is detected; `latest_checkpoint` then falls back to the
 * previous one.
 */
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/tensor_file.h"
#include "tokenizers/tokenizer.h"
#include "train/adamw.h"

namespace clustermim {

/// Where training stands.
struct TrainPosition {
  int64_t step = 0;            ///< optimizer steps taken
  int64_t epoch = 0;           ///< current epoch (0-based)
  int64_t batch_in_epoch = 0;  ///< batches of `epoch` already consumed
};

/// Everything a checkpoint carries apart from the model and optimizer tensors.
struct CheckpointInfo {
  TrainPosition position;
  nlohmann::json config = nlohmann::json::object();  ///< resolved run config
  nlohmann::json extra = nlohmann::json::object();   ///< counters (skipped steps, ...)
};

/// Writes `dir/ckpt-<step>.cmck` atomically and keeps the newest `keep` checkpoints (keep <= 0:
/// keep all). `tokenizer` may be null (MAE). Returns the path written.
std::string save_checkpoint(const std::string& dir, torch::nn::Module& model, const AdamW* optimizer,
                            const Tokenizer* tokenizer, const CheckpointInfo& info, int keep);

/// A loaded checkpoint file.
struct Checkpoint {
  TensorFile file;
  CheckpointInfo info;
};

/// Reads and validates a checkpoint; throws Error naming the file.
Checkpoint load_checkpoint(const std::string& path);

/// Copies the model tensors into `model`; every parameter and buffer must be present with the
/// same shape (Error naming the file and tensor otherwise).
void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model);

/// Restores the AdamW moments and step count.
void restore_optimizer(const Checkpoint& checkpoint, AdamW& optimizer);

/// The tokenizer embedded in the checkpoint, or null when it has none.
std::unique_ptr<Tokenizer> checkpoint_tokenizer(const Checkpoint& checkpoint);

/// The newest checkpoint in `dir` that loads cleanly ("" when none); damaged newer files are
/// reported with a warning and skipped.
std::string latest_checkpoint(const std::string& dir);

}  // namespace clustermim
