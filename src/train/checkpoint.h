/*
 * Training checkpoints of a run folder: one ".cmck" file per save (format: models/checkpoint_file.h).
 *
 * A checkpoint holds the model's parameters and buffers, the AdamW moments and step count, the
 * training position (global step, epoch, batch within the epoch), the resolved run config with
 * the model spec, and the tokenizer that made the targets, so a run can be resumed or evaluated
 * from this one file. No RNG state is stored because there is none to store: data order and
 * augmentation are functions of (seed, epoch, position) and masking of (seed, step).
 *
 * Files are written atomically as `ckpt-<step>.cmck`; the last N are kept. Loading checks the
 * CRC, so a file cut short by a kill is detected; `latest_checkpoint` then falls back to the
 * previous one.
 */
#pragma once

#include <string>

#include "models/checkpoint_file.h"
#include "tokenizers/tokenizer.h"
#include "train/adamw.h"

namespace clustermim {

/// Writes `dir/ckpt-<step>.cmck` atomically and keeps the newest `keep` checkpoints (keep <= 0:
/// keep all). `tokenizer` may be null (MAE). Returns the path written.
std::string save_checkpoint(const std::string& dir, torch::nn::Module& model, const AdamW* optimizer,
                            const Tokenizer* tokenizer, const CheckpointInfo& info, int keep);

/// Restores the AdamW moments and step count; Error naming the file when it has none.
void restore_optimizer(const Checkpoint& checkpoint, AdamW& optimizer);

/// The newest checkpoint in `dir` that loads cleanly ("" when none); damaged newer files are
/// reported with a warning and skipped.
std::string latest_checkpoint(const std::string& dir);

}  // namespace clustermim
