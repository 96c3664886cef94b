/*
 * BatchLoader (see loader.h): a deterministic epoch order, per-sample RNG streams keyed by
 * (seed, epoch, position), and a bounded, in-order producer/consumer queue of batches.
 */
#include "data/loader.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "core/error.h"

namespace clustermim {
namespace {

uint64_t splitmix64(uint64_t x) { return Rng(x)(); }

/// Order-sensitive hash of two words (for seeding independent streams).
uint64_t mix(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

constexpr uint64_t kOrderStream = 0x6f726465722d3031ULL;    // "order-01"
constexpr uint64_t kAugmentStream = 0x6175676d656e7431ULL;  // "augment1"

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position) {
  return mix(mix(mix(seed, kAugmentStream), static_cast<uint64_t>(epoch)),
             static_cast<uint64_t>(position));
}

void check_dataset(const Dataset& d) {
  CM_REQUIRE(d.size() > 0, "loader: dataset '", d.name, "' is empty");
  CM_REQUIRE(d.channels == 1 || d.channels == 3, "loader: dataset '", d.name, "' has ",
             d.channels, " channels, expected 1 or 3");
  CM_REQUIRE(d.height > 0 && d.width > 0, "loader: dataset '", d.name, "' has empty images");
  const int64_t expected = d.size() * d.image_bytes();
  CM_REQUIRE(static_cast<int64_t>(d.pixels.size()) == expected, "loader: dataset '", d.name,
             "' holds ", d.pixels.size(), " pixel bytes, expected N*H*W*C = ", expected);
}

}  // namespace

BatchLoader::BatchLoader(const Dataset& dataset, LoaderOptions options)
    : dataset_(dataset), options_(std::move(options)) {
  check_dataset(dataset_);
  CM_REQUIRE(options_.batch_size > 0, "loader: batch_size ", options_.batch_size, " must be > 0");
  CM_REQUIRE(options_.workers >= 0, "loader: workers ", options_.workers, " must be >= 0");
  CM_REQUIRE(options_.prefetch >= 1, "loader: prefetch ", options_.prefetch, " must be >= 1");
  CM_REQUIRE(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
             "loader: shard ", options_.shard, " of ", options_.shards, " is out of range");
  CM_REQUIRE(options_.image_size >= 0, "loader: image_size ", options_.image_size, " must be >= 0");
  if (options_.augment) validate(options_.augment_options);
  if (options_.augment && options_.finetune) validate(*options_.finetune);
  size_ = options_.image_size > 0
              ? options_.image_size
              : static_cast<int>(std::min(dataset_.height, dataset_.width));
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> BatchLoader::epoch_order(int64_t size, uint64_t seed, int64_t epoch,
                                              bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(size));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  Rng rng(mix(mix(seed, kOrderStream), static_cast<uint64_t>(epoch)));
  for (int64_t i = size - 1; i > 0; --i) std::swap(order[i], order[uniform_int(rng, 0, i)]);
  return order;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t skip_batches) {
  CM_REQUIRE(skip_batches >= 0 && skip_batches <= batches_per_epoch(), "loader: skip_batches ",
             skip_batches, " outside [0, ", batches_per_epoch(), "]");
  stop_workers();
  epoch_ = epoch;
  order_ = epoch_order(dataset_.size(), options_.seed, epoch, options_.shuffle);
  next_claim_ = next_take_ = skip_batches;
  end_ = batches_per_epoch();
  error_ = nullptr;
  error_batch_ = -1;
  stop_ = false;
  started_ = true;
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back(&BatchLoader::worker_loop, this);
}

void BatchLoader::build_batch(int64_t b, Batch& batch) const {
  const int64_t start = b * options_.batch_size;
  const int64_t whole = std::min(options_.batch_size, dataset_.size() - start);
  const int64_t first = start + whole * options_.shard / options_.shards;
  const int64_t count = start + whole * (options_.shard + 1) / options_.shards - first;
  const int64_t floats = transformed_floats(size_);
  batch.size = count;
  batch.image_size = size_;
  batch.images.resize(static_cast<size_t>(count * floats));
  batch.labels.resize(static_cast<size_t>(count));
  batch.indices.resize(static_cast<size_t>(count));
  batch.crops.resize(options_.augment ? static_cast<size_t>(count) : 0);
  for (int64_t k = 0; k < count; ++k) {
    if (stop_.load(std::memory_order_relaxed)) return;
    const int64_t index = order_[static_cast<size_t>(first + k)];
    if (options_.on_sample) options_.on_sample(index);
    const ImageView image = image_view(dataset_, index);
    float* out = batch.images.data() + k * floats;
    if (options_.augment) {
      Rng rng(sample_seed(options_.seed, epoch_, first + k));
      batch.crops[k] =
          options_.finetune
              ? finetune_transform(image, size_, options_.stats, *options_.finetune, rng, out).crop
              : train_transform(image, size_, options_.stats, options_.augment_options, rng, out);
    } else {
      eval_transform(image, size_, options_.stats, out);
    }
    batch.labels[k] = dataset_.labels[static_cast<size_t>(index)];
    batch.indices[k] = index;
  }
}

void BatchLoader::worker_loop() {
  const int64_t capacity = static_cast<int64_t>(options_.workers) * options_.prefetch;
  for (;;) {
    int64_t b = 0;
    Batch batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      can_claim_.wait(lock, [&] {
        return stop_ || next_claim_ >= end_ || next_claim_ < next_take_ + capacity;
      });
      if (stop_ || next_claim_ >= end_) return;
      b = next_claim_++;
      if (!pool_.empty()) {
        batch = std::move(pool_.back());
        pool_.pop_back();
      }
    }
    try {
      build_batch(b, batch);
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
      ready_.emplace(b, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_ || b < error_batch_) {
        error_ = std::current_exception();
        error_batch_ = b;
      }
    }
    can_take_.notify_all();
  }
}

bool BatchLoader::next(Batch& out) {
  CM_REQUIRE(started_, "loader: call start_epoch before next");
  if (options_.workers == 0) {  // synchronous mode
    if (error_) std::rethrow_exception(error_);
    if (next_take_ >= end_) return false;
    try {
      build_batch(next_take_, out);
    } catch (...) {
      error_ = std::current_exception();
      error_batch_ = next_take_;
      throw;
    }
    ++next_take_;
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_take_ >= end_) return false;
  can_take_.wait(lock, [&] {
    return ready_.count(next_take_) > 0 || (error_ && error_batch_ <= next_take_);
  });
  const auto it = ready_.find(next_take_);
  if (it == ready_.end()) std::rethrow_exception(error_);
  std::swap(out, it->second);
  const int64_t capacity = static_cast<int64_t>(options_.workers) * options_.prefetch;
  if (static_cast<int64_t>(pool_.size()) < capacity) pool_.push_back(std::move(it->second));
  ready_.erase(it);
  ++next_take_;
  lock.unlock();
  can_claim_.notify_all();
  return true;
}

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  can_claim_.notify_all();
  can_take_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  for (auto& entry : ready_) pool_.push_back(std::move(entry.second));
  ready_.clear();
}

}  // namespace clustermim
