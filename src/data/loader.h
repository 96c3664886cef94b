/*
 * The batch loader: shuffled, augmented, normalized float batches from an ImageSource (an
 * in-memory Dataset, or samples streamed from their encoded bytes), built ahead of time by worker
 * threads.
 *
 * Why it looks like this: training must be reproducible and resumable. The order of epoch e
 * depends only on (seed, e) (a Fisher-Yates shuffle written out here, since std::shuffle is
 * implementation-defined), and the augmentation of each sample only on (seed, e, its position in
 * the epoch). So the batches are bit-identical for any worker count, and a run resumed with
 * start_epoch(e, k) sees exactly the batches k.. of the uninterrupted epoch. Workers claim
 * batches in order and at most workers * prefetch batches are in flight, so memory is bounded;
 * next() hands them out in order. An exception thrown while building a batch is rethrown by the
 * next() that would have returned that batch. With shards > 1 each data-parallel process builds
 * only its slice of every batch. Torch-free: batches are float vectors, or (uint8_pixels) the
 * uint8 pixels those floats are made of plus random erasing's boxes and fill, which
 * tensor_batches.h normalizes and erases on the device: a quarter of the bytes to copy to a GPU.
 *
 * Bad samples: a sample whose read or decode fails (clustermim::Error from the source: a corrupt
 * or truncated file) is replaced by the next sample in epoch order that decodes, transformed with
 * the failed position's Rng stream, so the batch stays full and the stream stays the same for any
 * worker count and shard layout. It is counted and named in bad_samples() (logged as a warning at
 * the end of the epoch); when the bad samples handed out in an epoch exceed max_bad_fraction of
 * the epoch's samples, next() throws Error naming the first ones. A bad sample is never used.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/finetune_augment.h"
#include "data/image_source.h"
#include "data/transforms.h"

namespace clustermim {

/// How BatchLoader builds batches.
struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;         ///< new permutation every epoch; false = the source's order
  bool drop_last = true;       ///< leave out the last, smaller batch
  /// true: RandomResizedCrop + flip on the original image (train_transform), then normalize;
  /// false: the evaluation crop (see crop_ratio), then normalize.
  bool augment = true;
  int image_size = 0;          ///< output side S; 0 = the source's native (shorter) side
  /// Evaluation crop: shorter side resized to S / crop_ratio, center crop S, crop_ratio in (0, 1];
  /// 0 = the source's default (in memory 1: today's Resize(S) + CenterCrop(S) of images resized
  /// at load; streamed 0.875, ImageNet's 256 -> 224).
  float crop_ratio = 0.f;
  ChannelStats stats;          ///< normalization
  /// false: Batch::images, normalized floats; true: Batch::pixels, uint8, and the erasures of
  /// fine-tuning's random erasing, for normalizing and erasing on the device (to_tensors gives
  /// the same tensor either way).
  bool uint8_pixels = false;
  AugmentOptions augment_options;
  /// Fine-tuning augmentation: when set (and augment), finetune_transform with these options
  /// replaces train_transform, drawn from the same per-sample Rng. Empty = pretraining's.
  std::optional<FinetuneAugmentOptions> finetune;
  uint64_t seed = 0;           ///< order and augmentation come from (seed, epoch) only
  int workers = 2;             ///< threads building batches; 0 = build them in next()
  int prefetch = 2;            ///< batches ready ahead per worker (>= 1)
  /// Bad samples (see the top of this file) allowed per epoch, as a fraction of its samples;
  /// more stops with Error. 0.001: ImageNet has a few bad files.
  double max_bad_fraction = 0.001;
  /// Data-parallel sharding: batch b of n samples yields only its slice `shard` of `shards`,
  /// epoch positions [b*B + shard*n/shards, b*B + (shard+1)*n/shards). Slices of one batch
  /// concatenate, in shard order, to the unsharded batch (same samples, same augmentation).
  int shard = 0;
  int shards = 1;
  /// Test/instrumentation hook, called in the building thread with each sample index before
  /// its transform (the index at that epoch position, not its replacement); may throw (the
  /// exception comes out of next(), and is not a bad sample). Empty = none.
  std::function<void(int64_t index)> on_sample;
};

/// A sample that failed to read or decode, and what replaced it.
struct BadSample {
  int64_t index = -1;        ///< sample index in the source
  int64_t position = -1;     ///< position in the epoch order
  int64_t replacement = -1;  ///< sample index used in its place
  std::string name;          ///< the source's name for it (a path)
  std::string message;       ///< the error
};

/// Random erasing left to apply after normalizing (LoaderOptions::uint8_pixels).
struct BatchErasure {
  int64_t row = 0;     ///< in [0, B)
  EraseBox box;        ///< in output pixels
  int64_t offset = 0;  ///< of its fill [3, box.height, box.width] in Batch::erase_noise
};

/// One batch of transformed images.
struct Batch {
  int64_t size = 0;              ///< B (smaller than batch_size only for a kept last batch)
  int64_t image_size = 0;        ///< S
  std::vector<float> images;     ///< [B, 3, S, S], normalized (empty with uint8_pixels)
  std::vector<uint8_t> pixels;   ///< [B, 3, S, S] before normalizing (only with uint8_pixels)
  ChannelStats stats;            ///< LoaderOptions::stats, to normalize `pixels` with
  std::vector<BatchErasure> erasures;  ///< of `pixels`, after normalizing; in row order
  std::vector<float> erase_noise;      ///< their fills, concatenated
  std::vector<int64_t> labels;   ///< [B], -1 for an unlabeled source
  std::vector<int64_t> indices;  ///< [B] sample indices (a bad sample's replacement in its place)
  std::vector<CropBox> crops;    ///< [B] crops in original pixels when augmenting; else empty
  std::vector<BadSample> bad;    ///< this batch's positions whose own sample was bad
};

/// Iterates an ImageSource in batches, epoch by epoch. Not thread-safe itself (one consumer).
class BatchLoader {
 public:
  /// Keeps a reference to `source`, which must outlive the loader. Throws Error on bad options
  /// (image_size 0 with a source whose images vary in size among them).
  BatchLoader(const ImageSource& source, LoaderOptions options);
  /// The same over a MemoryImageSource of `dataset` that the loader owns; `dataset` must outlive
  /// the loader.
  BatchLoader(const Dataset& dataset, LoaderOptions options);
  ~BatchLoader();  ///< stops and joins the workers (also mid-epoch)
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  /// Batches in one epoch: N / B with drop_last, else ceil(N / B).
  int64_t batches_per_epoch() const;
  /// Output side S.
  int image_size() const { return size_; }

  /// Starts epoch `epoch` at batch `skip_batches` (0 <= skip <= batches_per_epoch()), dropping
  /// whatever the previous epoch had left.
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  /// Fills `out` with the next batch (its buffers are reused); false at the end of the epoch.
  /// Rethrows an exception raised while building this batch (and again on later calls); throws
  /// Error when the epoch's bad samples so far exceed max_bad_fraction (see the top of the file).
  bool next(Batch& out);

  /// Bad samples in the batches handed out so far in this epoch, in epoch order (the whole epoch
  /// once its last batch was handed out); cleared by start_epoch.
  const std::vector<BadSample>& bad_samples() const { return bad_; }

  /// Dataset order of epoch `epoch` under `seed` (identity when !shuffle): [N].
  static std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch,
                                          bool shuffle);

 private:
  /// `source` is used when `owned` is empty.
  BatchLoader(std::unique_ptr<const ImageSource> owned, const ImageSource* source,
              LoaderOptions options);
  /// Epoch positions [first, first + count) of batch b on this shard.
  void slice(int64_t b, int64_t* first, int64_t* count) const;
  void build_batch(int64_t b, Batch& batch) const;
  void build_sample(int64_t position, int64_t k, Batch& batch, std::vector<uint8_t>& pixels) const;
  /// Transforms sample `index` (drawing as epoch position `position`) into row k of `batch`,
  /// through `pixels` [S, S, 3]. With uint8_pixels, returns the box left to erase (its fill
  /// appended to batch.erase_noise); else pastes it and returns nullopt.
  std::optional<EraseBox> transform(int64_t index, int64_t position, int64_t k, Batch& batch,
                                    uint8_t* pixels) const;
  /// Counts `batch.bad` into the epoch; Error past max_bad_fraction.
  void count_bad(const Batch& batch);
  /// Logs the epoch's bad samples once, when its last batch is handed out (a trainer that takes
  /// exactly batches_per_epoch() batches never sees next() return false).
  void report_bad();
  void worker_loop();
  void stop_workers();

  std::unique_ptr<const ImageSource> owned_;  ///< the MemoryImageSource of the Dataset constructor
  const ImageSource& source_;
  LoaderOptions options_;
  int size_ = 0;
  float crop_ratio_ = 1.f;
  int64_t epoch_ = 0;
  int64_t epoch_samples_ = 0;  ///< samples this shard hands out in a whole epoch
  std::vector<BadSample> bad_;
  bool reported_ = false;
  std::vector<int64_t> order_;
  bool started_ = false;

  std::mutex mutex_;
  std::condition_variable can_claim_, can_take_;
  std::vector<std::thread> threads_;
  std::map<int64_t, Batch> ready_;  ///< built batches by index
  std::vector<Batch> pool_;         ///< spare buffers to refill
  int64_t next_claim_ = 0, next_take_ = 0, end_ = 0;
  std::atomic<bool> stop_{false};  ///< set under mutex_; read by workers between samples
  std::exception_ptr error_;
  int64_t error_batch_ = -1;
  std::exception_ptr too_many_bad_;  ///< count_bad's Error, rethrown until start_epoch
};

}  // namespace clustermim
