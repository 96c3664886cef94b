/*
 * open_image_split: the memory / stream switch (see image_split.h).
 */
#include "data/image_split.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/sample_index.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

/// "photos" for ".../photos", "photos.tar", "photos.tar.gz" or "photos.tgz".
std::string dataset_name(const std::string& source) {
  std::string name = fs::path(source).filename().string();
  for (const char* suffix : {".tar.gz", ".tgz", ".tar"}) {
    const std::string s = suffix;
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      return name.substr(0, name.size() - s.size());
    }
  }
  return name;
}

ImageSplit in_memory(Dataset dataset) {
  ImageSplit s;
  s.dataset = std::make_unique<Dataset>(std::move(dataset));
  s.source = std::make_unique<MemoryImageSource>(*s.dataset);
  return s;
}

}  // namespace

Storage parse_storage(const std::string& name, const std::string& what) {
  if (name == "auto") return Storage::kAuto;
  if (name == "memory") return Storage::kMemory;
  if (name == "stream") return Storage::kStream;
  fail(what, ": expected auto, memory or stream, got '", name, "'");
}

std::string storage_name(Storage storage) {
  switch (storage) {
    case Storage::kMemory: return "memory";
    case Storage::kStream: return "stream";
    default: return "auto";
  }
}

int64_t ImageSplit::skipped() const {
  if (dataset) return dataset->skipped;
  return static_cast<const StreamImageSource&>(*source).failed_samples();  // open_image_split's
}

Dataset materialize_split(const StreamImageSource& source, int side, int threads) {
  CM_REQUIRE(side > 0, source.name(),
             ": images of varying sizes need an image size to be held in memory");
  const SampleIndex& index = source.index();
  const int64_t n = source.size(), bytes = int64_t{side} * side * 3;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * bytes));
  std::vector<char> ok(static_cast<size_t>(n), 0);
  std::atomic<int64_t> next{0};
  std::mutex log_mutex;
  auto work = [&] {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        source.eval(i, side, 1.f, pixels.data() + i * bytes);
        ok[static_cast<size_t>(i)] = 1;
      } catch (const Error& e) {
        const std::lock_guard<std::mutex> lock(log_mutex);
        spdlog::warn("{}: skipped ({})", source.sample_name(i), e.what());
      }
    }
  };
  const int wanted = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, wanted); ++t) pool.emplace_back(work);
  for (std::thread& t : pool) t.join();

  Dataset d;
  d.name = dataset_name(index.source);
  d.split = index.split;
  d.source = index.source;
  d.height = d.width = side;
  d.channels = 3;
  d.classes = index.classes;
  d.key = str_cat(index.key, "-eval", side);
  for (int64_t i = 0; i < n; ++i) {
    if (!ok[static_cast<size_t>(i)]) {
      ++d.skipped;
      continue;
    }
    d.pixels.insert(d.pixels.end(), pixels.begin() + i * bytes, pixels.begin() + (i + 1) * bytes);
    d.labels.push_back(source.label(i));
  }
  CM_REQUIRE(d.size() > 0, source.name(), ": no image could be decoded");
  return d;
}

ImageSplit open_image_split(const std::string& spec, const std::string& split,
                            const SplitOptions& options) {
  if (!is_sample_source(spec)) {
    CM_REQUIRE(options.storage != Storage::kStream, spec,
               ": IDX and CIFAR-10 binaries hold no encoded images to stream; use storage memory");
    return in_memory(load_dataset(spec, split, options.dataset));
  }
  IndexOptions index_options;
  index_options.cache_dir = options.dataset.cache_dir;
  auto stream = std::make_unique<StreamImageSource>(index_samples(spec, split, index_options));
  const int side = options.dataset.image_size;
  Storage storage = options.storage;
  if (storage == Storage::kAuto && side <= 0) {
    storage = Storage::kStream;
    spdlog::info("{}: no image size to decode at: streamed", stream->name());
  } else if (storage == Storage::kAuto) {
    const double gb = static_cast<double>(stream->size()) * side * side * 3 / 1e9;
    const bool fits = gb <= options.memory_budget_gb;
    storage = fits ? Storage::kMemory : Storage::kStream;
    spdlog::info("{}: {} images, {:.2f} GB decoded at {} px, {} data.memory_budget_gb {}: {}",
                 stream->name(), stream->size(), gb, side, fits ? "within" : "over",
                 options.memory_budget_gb, fits ? "in memory" : "streamed");
  }
  if (storage == Storage::kStream) {
    ImageSplit s;
    s.source = std::move(stream);
    return s;
  }
  if (side <= 0) return in_memory(load_dataset(spec, split, options.dataset));
  return in_memory(materialize_split(*stream, side, options.dataset.threads));
}

}  // namespace clustermim
