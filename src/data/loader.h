/*
 * The batch loader: shuffled, augmented, normalized float batches from an in-memory Dataset,
 * built ahead of time by worker threads.
 *
 * Why it looks like this: training must be reproducible and resumable. The order of epoch e
 * depends only on (seed, e) (a Fisher-Yates shuffle written out here, since std::shuffle is
 * implementation-defined), and the augmentation of each sample only on (seed, e, its position in
 * the epoch). So the batches are bit-identical for any worker count, and a run resumed with
 * start_epoch(e, k) sees exactly the batches k.. of the uninterrupted epoch. Workers claim
 * batches in order and at most workers * prefetch batches are in flight, so memory is bounded;
 * next() hands them out in order. An exception thrown while building a batch is rethrown by the
 * next() that would have returned that batch. With shards > 1 each data-parallel process builds
 * only its slice of every batch. Torch-free: batches are float vectors.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/finetune_augment.h"
#include "data/transforms.h"

namespace clustermim {

/// How BatchLoader builds batches.
struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;         ///< new permutation every epoch; false = dataset order
  bool drop_last = true;       ///< leave out the last, smaller batch
  bool augment = true;         ///< train_transform; false = eval_transform
  int image_size = 0;          ///< output side S; 0 = the dataset's (shorter) side
  ChannelStats stats;          ///< normalization
  AugmentOptions augment_options;
  /// Fine-tuning augmentation: when set (and augment), finetune_transform with these options
  /// replaces train_transform, drawn from the same per-sample Rng. Empty = pretraining's.
  std::optional<FinetuneAugmentOptions> finetune;
  uint64_t seed = 0;           ///< order and augmentation come from (seed, epoch) only
  int workers = 2;             ///< threads building batches; 0 = build them in next()
  int prefetch = 2;            ///< batches ready ahead per worker (>= 1)
  /// Data-parallel sharding: batch b of n samples yields only its slice `shard` of `shards`,
  /// epoch positions [b*B + shard*n/shards, b*B + (shard+1)*n/shards). Slices of one batch
  /// concatenate, in shard order, to the unsharded batch (same samples, same augmentation).
  int shard = 0;
  int shards = 1;
  /// Test/instrumentation hook, called in the building thread with each dataset index before
  /// its transform; may throw (the exception comes out of next()). Empty = none.
  std::function<void(int64_t index)> on_sample;
};

/// One batch of transformed images.
struct Batch {
  int64_t size = 0;              ///< B (smaller than batch_size only for a kept last batch)
  int64_t image_size = 0;        ///< S
  std::vector<float> images;     ///< [B, 3, S, S], normalized
  std::vector<int64_t> labels;   ///< [B]
  std::vector<int64_t> indices;  ///< [B] dataset indices
  std::vector<CropBox> crops;    ///< [B] crops in source pixels when augmenting; empty otherwise
};

/// Iterates a Dataset in batches, epoch by epoch. Not thread-safe itself (one consumer).
class BatchLoader {
 public:
  /// Keeps a reference to `dataset`, which must outlive the loader. Throws Error on bad options.
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
  /// Rethrows an exception raised while building this batch (and again on later calls).
  bool next(Batch& out);

  /// Dataset order of epoch `epoch` under `seed` (identity when !shuffle): [N].
  static std::vector<int64_t> epoch_order(int64_t size, uint64_t seed, int64_t epoch,
                                          bool shuffle);

 private:
  void build_batch(int64_t b, Batch& batch) const;
  void worker_loop();
  void stop_workers();

  const Dataset& dataset_;
  LoaderOptions options_;
  int size_ = 0;
  int64_t epoch_ = 0;
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
};

}  // namespace clustermim
