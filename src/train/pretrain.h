/*
 * ClusterMIM / MAE pretraining (SPEC section 4).
 *
 * Each step: an augmented batch (RandomResizedCrop + flip on the original image, from any
 * ImageSource: decoded in memory or streamed, labeled or not; labels are never used), targets
 * computed on that very crop before masking and without gradients (token ids from the frozen
 * tokenizer, or the pixels for MAE), per-sample random masking, the MIM model under bf16 autocast,
 * the loss on masked patches only, AdamW with MAE's groups and a per-iteration warmup + cosine
 * schedule. With accum_steps > 1 (MAE's accum_iter) one optimizer step sums the gradients of
 * accum_steps micro-batches of batch_size images, each loss divided by accum_steps, so it is the
 * step of one batch of batch_size x accum_steps images: the masks are drawn for that whole batch
 * and each micro-batch takes its rows, and the epoch order and crops depend on the position in
 * the epoch only. Non-finite steps are skipped and counted; too many in a row stop the run with a
 * checkpoint. SIGINT/SIGTERM write a checkpoint before exiting. Everything random is a function
 * of (seed, epoch, position) or (seed, step), so `resume` continues exactly where the checkpoint
 * left off (checkpoints fall on optimizer steps). With a DistributedGroup, each rank takes its
 * slice of every micro-batch (and of its masks) and the ranks average gradients, loss and the
 * stop flag in one all-reduce per optimizer step.
 */
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "core/fingerprint.h"
#include "data/dataset.h"
#include "data/image_source.h"
#include "data/transforms.h"
#include "models/mim.h"
#include "tokenizers/tokenizer.h"

namespace clustermim {

class DistributedGroup;

/// Pretraining hyperparameters and run control, with their defaults.
struct PretrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 256;      ///< images per micro-batch, over all processes together
  /// Micro-batches whose gradients one optimizer step sums (MAE's accum_iter): the effective
  /// batch is batch_size * accum_steps. The schedule, max_steps and checkpoint_every count
  /// optimizer steps; an epoch's last micro-batches that do not fill a step are left out.
  int64_t accum_steps = 1;
  double blr = 1.5e-4;           ///< base lr; lr = blr * batch_size * accum_steps / 256
  double min_lr = 0.0;           ///< lr at the end of the cosine
  double warmup_epochs = 1.0;    ///< linear warmup length, in epochs
  double weight_decay = 0.05;
  double label_smoothing = 0.1;  ///< token targets only
  double clip_grad = 0.0;        ///< max gradient norm; 0 = no clipping
  bool bf16 = true;              ///< bf16 autocast (fp32 master weights); false = fp32
  uint64_t seed = 0;
  int workers = 2;               ///< data-loader threads
  double max_bad_fraction = 0.001;  ///< LoaderOptions::max_bad_fraction of the training loader
  AugmentOptions augment;
  std::string out_dir;           ///< checkpoints and metrics.jsonl go here
  int keep_checkpoints = 2;      ///< newest checkpoints kept
  int64_t checkpoint_every = 0;  ///< also checkpoint every N steps; 0 = at epoch ends only
  int64_t max_steps = 0;         ///< stop after this many optimizer steps in total (the lr
                                 ///< schedule still spans `epochs`); 0 = run all epochs
  int max_bad_steps = 20;        ///< consecutive non-finite optimizer steps that stop the run
  /// Data-parallel group (not owned); null = this process alone. batch_size stays the global
  /// micro-batch: each rank trains on its slice, gradients are averaged, rank 0 alone logs and
  /// writes checkpoints, so N processes follow the loss curve of one process with the whole batch.
  DistributedGroup* group = nullptr;
};

/// What a pretraining run did.
struct PretrainResult {
  int64_t steps = 0;              ///< optimizer steps (including those of a resumed-from run)
  double seconds = 0;             ///< wall time of this invocation
  double train_seconds = 0;       ///< time in training steps, summed over this run and the
                                  ///< invocations it resumed (excludes start-up and pauses)
  double images_per_second = 0;   ///< images per second of training step, whole run
  double tokenizer_images_per_second = 0;  ///< images/s of the tokenizer alone (teacher cost)
  double last_loss = NAN;         ///< mean loss over the last epoch's steps, whole run
  double last_accuracy = NAN;     ///< mean masked-token accuracy there (tokens only)
  int64_t skipped_steps = 0;      ///< non-finite optimizer steps skipped
  std::string checkpoint;         ///< the last checkpoint written
};

/// What a checkpoint of pretrain(model, tokenizer, train, stats, options, ...) depends on and a
/// resume must keep: the model config, the train source's identity(), the normalization, the
/// tokenizer (a digest of it; none for pixel targets) and every training setting except those a
/// resume may change (epochs, max_steps, checkpointing, workers, out_dir); bf16 is the precision,
/// accum_steps is recorded too.
Provenance pretrain_provenance(const MimConfig& model, const Tokenizer* tokenizer,
                               const ImageSource& train, const ChannelStats& stats,
                               const PretrainOptions& options);

/// Trains `model` on `train` (moved to `device` first, so the optimizer state is built there),
/// whose random crops are resized to the model's image size. `tokenizer` supplies targets when
/// the model's target is "tokens" (null for MAE). `config` is stored in checkpoints, with
/// pretrain_provenance under "provenance" and the model spec (model config and `stats`, what
/// load_model and load_encoder read). Resumes from `resume_from` when non-empty; Error naming the
/// file and what differs when that checkpoint was made under other settings (see
/// pretrain_provenance). `train` must outlive the call.
PretrainResult pretrain(MimModel& model, const Tokenizer* tokenizer, const ImageSource& train,
                        const ChannelStats& stats, const PretrainOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from = "");
/// The same over a MemoryImageSource of `train`.
PretrainResult pretrain(MimModel& model, const Tokenizer* tokenizer, const Dataset& train,
                        const ChannelStats& stats, const PretrainOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from = "");

}  // namespace clustermim
