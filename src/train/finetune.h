/*
 * Whole-network fine-tuning of a ViT classifier (MAE's main_finetune.py; issue 18).
 *
 * Each step: a batch of the train ImageSource (decoded in memory or streamed; it must be
 * labeled) under the fine-tuning augmentation (RandomResizedCrop 0.08-1 + flip,
 * RandAugment, random erasing: data/finetune_augment.h), Mixup / CutMix with label smoothing
 * (train/mixup.h; with mixing off the targets are the smoothed labels, i.e. label-smoothed
 * cross-entropy), the classifier under bf16 autocast with stochastic depth, the soft-target
 * cross-entropy, optional gradient clipping, and AdamW (0.9, 0.999) whose parameters carry MAE's
 * layer-wise lr decay and weight-decay exclusions (train/layer_decay.h), with a per-iteration
 * warmup + cosine schedule (train/schedule.h) at lr = blr * batch_size * accum_steps / 256. After every epoch,
 * top-1 / top-5 on the evaluation split with the evaluation transform; best and last are
 * reported. Everything random is a function of (seed, epoch, position) (data) or (seed, step)
 * (mixing, drop path), so a run resumed from a checkpoint continues exactly. Checkpoints, the
 * metrics file and the progress bar are pretraining's (train/checkpoint.h, train/metrics_log.h);
 * per-epoch scores go to <out_dir>/finetune.json and into each checkpoint.
 *
 * Data-parallel (FinetuneOptions::group, `eval finetune --nproc N`) as pretraining: rank 0's
 * weights are broadcast first; each rank loads its slice of every global batch (the loader's
 * shards: the slices concatenate to the batch one process would load, same samples and same
 * augmentation); gradients and the loss are averaged over the ranks in one all-reduce before
 * clipping and the AdamW step, so every rank takes the same step; the evaluation is split into
 * contiguous parts of the test source whose top-1 / top-5 / scored counts are summed (exact).
 * What differs from one process: Mixup / CutMix and drop path are drawn per rank from
 * seed + rank (rank 0 draws what one process draws), and each rank mixes its own slice (sample
 * i with sample B/N-1-i of the slice, one lam per rank), as timm's Mixup does under DDP; with
 * both off the ranks together compute the one-process step (up to float summation order).
 * Rank 0 alone writes checkpoints, metrics.jsonl, finetune.json and the progress bar; every rank
 * resumes from the same checkpoint.
 */
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "core/fingerprint.h"
#include "data/dataset.h"
#include "data/image_source.h"
#include "data/finetune_augment.h"
#include "train/classifier.h"
#include "train/mixup.h"

namespace clustermim {

class DistributedGroup;

/// Fine-tuning hyperparameters and run control, with their defaults (MAE's main_finetune.py
/// unless said otherwise).
struct FinetuneOptions {
  int64_t epochs = 10;           ///< MAE: 100 (ViT-B); 10 here so that a default run fits a CPU
  int64_t batch_size = 256;      ///< global batch (MAE: 1024 = 64 x 16 GPUs)
  int64_t train_images = 0;      ///< train on this many training images, a uniform sample drawn
                                 ///< by `seed` (the few-label regime); 0 = all of them
  /// Micro-batches whose gradients one optimizer step sums (MAE's accum_iter): the effective
  /// batch is batch_size * accum_steps. The schedule, max_steps and checkpoint_every count
  /// optimizer steps; Mixup / CutMix and drop path draw per micro-batch, as in MAE.
  int64_t accum_steps = 1;
  double blr = 5e-4;             ///< base lr; lr = blr * batch_size * accum_steps / 256
  double min_lr = 1e-6;          ///< lr at the end of the cosine
  double warmup_epochs = 5.0;    ///< linear warmup length, in epochs
  double layer_decay = 0.75;     ///< layer-wise lr decay (MAE: 0.75 ViT-B/L default, 0.65 paper ViT-B)
  double weight_decay = 0.05;    ///< AdamW decay; none on norms, biases, pos_embed, cls_token
  double drop_path = 0.1;        ///< stochastic depth rate of the last block (make_classifier)
  std::string pooling = "avg";   ///< "avg" (fc_norm on the patch-token mean) | "cls" (make_classifier)
  double clip_grad = 0.0;        ///< max gradient norm; 0 = no clipping
  bool bf16 = true;              ///< bf16 autocast (fp32 master weights); false = fp32
  uint64_t seed = 0;             ///< data order and augmentation, mixing, drop path, head init
  int workers = 2;               ///< data-loader threads
  double max_bad_fraction = 0.001;  ///< LoaderOptions::max_bad_fraction of the training loader
  int64_t eval_batch = 256;      ///< batch of the per-epoch evaluation
  FinetuneAugmentOptions augment;  ///< crop + flip, RandAugment, random erasing
  MixupOptions mixup;            ///< Mixup 0.8 / CutMix 1.0 / switch 0.5, label smoothing 0.1
  std::string out_dir;           ///< checkpoints, metrics.jsonl and finetune.json go here
  int keep_checkpoints = 2;      ///< newest checkpoints kept
  int64_t checkpoint_every = 0;  ///< also checkpoint every N steps; 0 = at epoch ends only
  int64_t max_steps = 0;         ///< stop after this many steps in total (the schedule still
                                 ///< spans `epochs`); 0 = run all epochs
  int max_bad_steps = 20;        ///< consecutive non-finite steps that stop the run
  /// Data-parallel group (not owned); null = this process alone. batch_size stays the global
  /// batch (it must split evenly over the ranks); rank 0 alone writes.
  DistributedGroup* group = nullptr;
};

/// Error naming the option when `options` make no sense.
void validate(const FinetuneOptions& options);

/// The classifier fine-tuning builds on `encoder` for `num_classes`: pooling and drop path from
/// `options`.
ClassifierConfig make_classifier_config(const VitConfig& encoder, int64_t num_classes,
                                        const FinetuneOptions& options);

/// One epoch's scores (accuracies are fractions in [0, 1]).
struct FinetuneEpoch {
  int64_t epoch = 0;        ///< 0-based
  double train_loss = NAN;  ///< mean training loss over the epoch's good steps
  double top1 = 0, top5 = 0;
};

/// What a fine-tuning run did (scores of the whole run, resumed invocations included).
struct FinetuneResult {
  double top1_best = 0, top5_best = 0;  ///< the highest of each over the epochs
  int64_t best_epoch = -1;              ///< epoch of top1_best (0-based)
  double top1_last = 0, top5_last = 0;  ///< after the last epoch
  std::vector<FinetuneEpoch> epochs;    ///< every finished epoch, in order
  int64_t steps = 0;                    ///< optimizer steps taken (including resumed ones)
  int64_t skipped_steps = 0;            ///< non-finite steps skipped
  double seconds = 0;                   ///< wall time of this invocation
  double train_seconds = 0;             ///< time in training steps, whole run
  double images_per_second = 0;         ///< of training steps, whole run
  std::string checkpoint;               ///< the last checkpoint written
};

/// {"epochs": [{epoch, train_loss, top1, top5}], "top1_best", "top5_best", "best_epoch",
///  "top1_last", "top5_last", "steps", "skipped_steps", "train_s", "img_s"}.
nlohmann::json to_json(const FinetuneResult& result);

/// Top-1 / top-5 accuracy of `classifier` (put in eval mode) on the labeled `source` with the
/// evaluation transform (shorter side resized to S / crop_ratio and center crop S = the encoder's
/// input size, at the source's default crop ratio: 1 in memory, 0.875 streamed; normalized with
/// `stats`). Samples that fail to decode (counted and reported by the loader) are left out of
/// the count; Error when the source is unlabeled. With a `group` of N ranks (every rank calls
/// it), rank r scores samples [r n / N, (r + 1) n / N) and the counts are summed over the ranks:
/// every rank returns the accuracy over the whole source.
std::pair<double, double> classifier_accuracy(VitClassifier& classifier, const ImageSource& source,
                                              const ChannelStats& stats, int64_t batch_size,
                                              int workers, bool bf16, torch::Device device,
                                              DistributedGroup* group = nullptr);
/// The same over a MemoryImageSource of `dataset`.
std::pair<double, double> classifier_accuracy(VitClassifier& classifier, const Dataset& dataset,
                                              const ChannelStats& stats, int64_t batch_size,
                                              int workers, bool bf16, torch::Device device);

/// What a checkpoint of finetune(classifier, train, test, stats, options, ...) depends on and a
/// resume must keep: the classifier config (drop path included), a digest of its weights as
/// given (the start: a pretrained encoder, or a seeded random one), both sources' identity(),
/// the normalization and every training setting except those a resume may change (epochs,
/// max_steps, checkpointing, workers, eval batch, out_dir).
Provenance finetune_provenance(VitClassifier& classifier, const ImageSource& train,
                               const ImageSource& test, const ChannelStats& stats,
                               const FinetuneOptions& options);

/// Fine-tunes `classifier` (moved to `device` first) on `train`, evaluating on `test` after
/// every epoch (classifier_accuracy). `config` is stored in checkpoints with the provenance under
/// "provenance" and the classifier config and stats under "classifier" / "stats". Resumes from
/// `resume_from` when non-empty (Error naming the file and what differs when it was made under
/// other settings or from other starting weights). Error when either source is unlabeled. Both
/// sources must outlive the call.
FinetuneResult finetune(VitClassifier& classifier, const ImageSource& train,
                        const ImageSource& test, const ChannelStats& stats,
                        const FinetuneOptions& options, torch::Device device,
                        const nlohmann::json& config, const std::string& resume_from = "");
/// The same over MemoryImageSources of `train` and `test`.
FinetuneResult finetune(VitClassifier& classifier, const Dataset& train, const Dataset& test,
                        const ChannelStats& stats, const FinetuneOptions& options,
                        torch::Device device, const nlohmann::json& config,
                        const std::string& resume_from = "");

}  // namespace clustermim
