/*
 * BatchLoader (see loader.h): a deterministic epoch order, per-sample RNG streams keyed by
 * (seed, epoch, position), bad samples replaced by their successors in that order, and a bounded,
 * in-order producer/consumer queue of batches.
 */
#include "data/loader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
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

/// One bad sample for messages: its error, which names it, or "name (error)" when it does not.
std::string describe(const BadSample& bad) {
  if (bad.message.compare(0, bad.name.size(), bad.name) == 0) return bad.message;
  return str_cat(bad.name, " (", bad.message, ")");
}

/// The first `count` bad samples, "; "-separated.
std::string describe(const std::vector<BadSample>& bad, size_t count) {
  std::ostringstream os;
  for (size_t i = 0; i < std::min(count, bad.size()); ++i)
    os << (i > 0 ? "; " : "") << describe(bad[i]);
  if (bad.size() > count) os << "; ...";
  return os.str();
}

}  // namespace

BatchLoader::BatchLoader(const ImageSource& source, LoaderOptions options)
    : BatchLoader(nullptr, &source, std::move(options)) {}

BatchLoader::BatchLoader(const Dataset& dataset, LoaderOptions options)
    : BatchLoader(std::make_unique<MemoryImageSource>(dataset), nullptr, std::move(options)) {}

BatchLoader::BatchLoader(std::unique_ptr<const ImageSource> owned, const ImageSource* source,
                         LoaderOptions options)
    : owned_(std::move(owned)), source_(owned_ ? *owned_ : *source), options_(std::move(options)) {
  CM_REQUIRE(source_.size() > 0, "loader: ", source_.name(), " has no samples");
  CM_REQUIRE(options_.batch_size > 0, "loader: batch_size ", options_.batch_size, " must be > 0");
  CM_REQUIRE(options_.workers >= 0, "loader: workers ", options_.workers, " must be >= 0");
  CM_REQUIRE(options_.prefetch >= 1, "loader: prefetch ", options_.prefetch, " must be >= 1");
  CM_REQUIRE(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
             "loader: shard ", options_.shard, " of ", options_.shards, " is out of range");
  CM_REQUIRE(options_.image_size >= 0, "loader: image_size ", options_.image_size, " must be >= 0");
  CM_REQUIRE(options_.crop_ratio >= 0 && options_.crop_ratio <= 1, "loader: crop_ratio ",
             options_.crop_ratio, " must lie in (0, 1] (0 = the source's default)");
  CM_REQUIRE(options_.max_bad_fraction >= 0 && options_.max_bad_fraction <= 1,
             "loader: max_bad_fraction ", options_.max_bad_fraction, " must lie in [0, 1]");
  if (options_.augment) validate(options_.augment_options);
  if (options_.augment && options_.finetune) validate(*options_.finetune);
  size_ = options_.image_size > 0 ? options_.image_size : source_.native_side();
  CM_REQUIRE(size_ > 0, "loader: the images of ", source_.name(),
             " differ in size; set the output size (image_size)");
  crop_ratio_ = options_.crop_ratio > 0 ? options_.crop_ratio : source_.default_crop_ratio();
}

BatchLoader::~BatchLoader() { stop_workers(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = source_.size(), b = options_.batch_size;
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
  order_ = epoch_order(source_.size(), options_.seed, epoch, options_.shuffle);
  next_claim_ = next_take_ = skip_batches;
  end_ = batches_per_epoch();
  epoch_samples_ = 0;
  for (int64_t b = 0; b < end_; ++b) {
    int64_t first = 0, count = 0;
    slice(b, &first, &count);
    epoch_samples_ += count;
  }
  bad_.clear();
  reported_ = false;
  error_ = nullptr;
  error_batch_ = -1;
  too_many_bad_ = nullptr;
  stop_ = false;
  started_ = true;
  for (int w = 0; w < options_.workers; ++w) threads_.emplace_back(&BatchLoader::worker_loop, this);
}

void BatchLoader::slice(int64_t b, int64_t* first, int64_t* count) const {
  const int64_t start = b * options_.batch_size;
  const int64_t whole = std::min(options_.batch_size, source_.size() - start);
  *first = start + whole * options_.shard / options_.shards;
  *count = start + whole * (options_.shard + 1) / options_.shards - *first;
}

void BatchLoader::build_batch(int64_t b, Batch& batch) const {
  int64_t first = 0, count = 0;
  slice(b, &first, &count);
  batch.size = count;
  batch.image_size = size_;
  const auto values = static_cast<size_t>(count * transformed_floats(size_));
  batch.images.resize(options_.uint8_pixels ? 0 : values);
  batch.pixels.resize(options_.uint8_pixels ? values : 0);
  batch.stats = options_.stats;
  batch.erasures.clear();
  batch.erase_noise.clear();
  batch.labels.resize(static_cast<size_t>(count));
  batch.indices.resize(static_cast<size_t>(count));
  batch.crops.resize(options_.augment ? static_cast<size_t>(count) : 0);
  batch.bad.clear();
  std::vector<uint8_t> pixels(static_cast<size_t>(size_) * size_ * 3);
  for (int64_t k = 0; k < count; ++k) {
    if (stop_.load(std::memory_order_relaxed)) return;
    build_sample(first + k, k, batch, pixels);
  }
}

void BatchLoader::build_sample(int64_t position, int64_t k, Batch& batch,
                               std::vector<uint8_t>& pixels) const {
  const int64_t n = source_.size();
  const int64_t index = order_[static_cast<size_t>(position)];
  if (options_.on_sample) options_.on_sample(index);
  // A run of more bad samples than the epoch may hold cannot end well: stop there (a single one
  // is replaced, and count_bad says whether the epoch may hold it).
  const auto allowed = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::floor(options_.max_bad_fraction * static_cast<double>(epoch_samples_))));
  for (int64_t attempt = 0;; ++attempt) {
    const int64_t candidate = order_[static_cast<size_t>((position + attempt) % n)];
    const auto noise_offset = static_cast<int64_t>(batch.erase_noise.size());
    std::optional<EraseBox> erased;
    try {
      erased = transform(candidate, position, k, batch, pixels.data());
    } catch (const Error& e) {
      batch.erase_noise.resize(static_cast<size_t>(noise_offset));
      if (attempt == 0)
        batch.bad.push_back({index, position, -1, source_.sample_name(index), e.what()});
      CM_REQUIRE(attempt < allowed && attempt + 1 < n, "loader: ", source_.name(), ": ",
                 attempt + 1, " samples in a row fail to decode, more than max_bad_fraction ",
                 options_.max_bad_fraction, " of the epoch's ", epoch_samples_,
                 " allows; the first: ", describe(batch.bad.back()));
      continue;
    }
    if (erased) batch.erasures.push_back({k, *erased, noise_offset});
    if (attempt > 0) batch.bad.back().replacement = candidate;
    batch.labels[static_cast<size_t>(k)] = source_.label(candidate);
    batch.indices[static_cast<size_t>(k)] = candidate;
    return;
  }
}

std::optional<EraseBox> BatchLoader::transform(int64_t index, int64_t position, int64_t k,
                                               Batch& batch, uint8_t* pixels) const {
  const ImageView view{pixels, size_, size_, 3};
  const int64_t offset = k * transformed_floats(size_);
  std::optional<EraseBox> erased;
  if (!options_.augment) {
    source_.eval(index, size_, crop_ratio_, pixels);
  } else {
    Rng rng(sample_seed(options_.seed, epoch_, position));
    CropBox& crop = batch.crops[static_cast<size_t>(k)];
    if (options_.finetune) {
      crop = source_.random_crop(index, options_.finetune->crop, rng, size_, pixels);
      erased = finetune_augment_pixels(pixels, size_, options_.stats, *options_.finetune, rng,
                                       batch.erase_noise);
    } else {
      crop = source_.random_crop(index, options_.augment_options, rng, size_, pixels);
    }
  }
  if (options_.uint8_pixels) {
    planar_image(view, batch.pixels.data() + offset);
    return erased;
  }
  float* out = batch.images.data() + offset;
  normalize_image(view, options_.stats, out);
  if (erased) {  // its fill is the last 3 * h * w values of erase_noise: paste and drop them
    std::vector<float>& noise = batch.erase_noise;
    const auto fill = static_cast<size_t>(3 * erased->height * erased->width);
    paste_erasure(*erased, noise.data() + noise.size() - fill, 3, size_, size_, out);
    noise.resize(noise.size() - fill);
  }
  return std::nullopt;
}

void BatchLoader::count_bad(const Batch& batch) {
  if (batch.bad.empty()) return;
  bad_.insert(bad_.end(), batch.bad.begin(), batch.bad.end());
  if (static_cast<double>(bad_.size()) <=
      options_.max_bad_fraction * static_cast<double>(epoch_samples_))
    return;
  try {
    fail("loader: ", source_.name(), ": ", bad_.size(), " bad samples in epoch ", epoch_,
         ", more than max_bad_fraction ", options_.max_bad_fraction, " of its ", epoch_samples_,
         ": ", describe(bad_, 3));
  } catch (const Error&) {
    too_many_bad_ = std::current_exception();
    throw;
  }
}

void BatchLoader::report_bad() {
  if (reported_ || bad_.empty()) return;
  reported_ = true;
  spdlog::warn("{}: epoch {}: {} bad sample(s) skipped (each replaced by the next in epoch "
               "order): {}",
               source_.name(), epoch_, bad_.size(), describe(bad_, 10));
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
  if (too_many_bad_) std::rethrow_exception(too_many_bad_);
  if (options_.workers == 0) {  // synchronous mode
    if (error_) std::rethrow_exception(error_);
    if (next_take_ >= end_) {
      report_bad();
      return false;
    }
    try {
      build_batch(next_take_, out);
    } catch (...) {
      error_ = std::current_exception();
      error_batch_ = next_take_;
      throw;
    }
    ++next_take_;
    count_bad(out);
    if (next_take_ >= end_) report_bad();
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_take_ >= end_) {
    lock.unlock();
    report_bad();
    return false;
  }
  can_take_.wait(lock, [&] {
    return ready_.count(next_take_) > 0 || (error_ && error_batch_ <= next_take_);
  });
  const auto it = ready_.find(next_take_);
  if (it == ready_.end()) std::rethrow_exception(error_);
  std::swap(out, it->second);
  const int64_t capacity = static_cast<int64_t>(options_.workers) * options_.prefetch;
  if (static_cast<int64_t>(pool_.size()) < capacity) pool_.push_back(std::move(it->second));
  ready_.erase(it);
  const bool last = ++next_take_ >= end_;
  lock.unlock();
  can_claim_.notify_all();
  count_bad(out);
  if (last) report_bad();
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
