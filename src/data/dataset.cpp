/*
 * load_dataset: from a spec to a decoded Dataset, through the cache (see dataset.h).
 *
 * Steps: resolve the spec to a path (named datasets live under /usr/share/datasets), detect the
 * format from what the folder holds (cheap), and either read IDX directly (sub-second) or go
 * through the decoded-dataset cache. Archives are always cached and their format is only
 * detected on a miss, so a cache hit never inflates the archive.
 */
#include "data/dataset.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/archive.h"
#include "data/cifar_reader.h"
#include "data/dataset_cache.h"
#include "data/idx_reader.h"
#include "data/image_folder_reader.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

enum class Format { Unknown, Idx, Cifar, ImageFolder };

/// A resolved spec: where to read, what to call it, and (for folders) its format.
struct Source {
  std::string path;
  std::string name;
  bool archive = false;
  bool fashion = false;             ///< IDX: Fashion-MNIST class names
  Format format = Format::Unknown;  ///< archives: detected only when read
};

const char* const kExpected =
    "expected a folder or .tar/.tar.gz/.tgz of MNIST IDX files, CIFAR-10 binary batches, or "
    "train/ and test/ folders of <class>/<image> files";

bool is_idx_images_name(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  return name.find("-idx3-ubyte") != std::string::npos;
}

Format detect_folder_format(const std::string& folder) {
  for (const fs::directory_entry& e : fs::directory_iterator(folder)) {
    if (e.is_regular_file() && is_idx_images_name(e.path().string())) return Format::Idx;
  }
  if (!cifar_batch_dir(folder).empty()) return Format::Cifar;
  if (is_image_folder(folder)) return Format::ImageFolder;
  return Format::Unknown;
}

bool is_cifar_batch_name(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  return name == "data_batch_1.bin" || name == "test_batch.bin";
}

/// Classifies an archive by its first entry that belongs to a known layout.
Format detect_archive_format(const std::string& path) {
  const std::string entry = find_archive_entry(path, [](const std::string& e) {
    return is_idx_images_name(e) || is_cifar_batch_name(e) || parse_image_entry(e).has_value();
  });
  if (entry.empty()) return Format::Unknown;
  if (is_idx_images_name(entry)) return Format::Idx;
  return is_cifar_batch_name(entry) ? Format::Cifar : Format::ImageFolder;
}

Source named_source(const std::string& spec) {
  Source s{"/usr/share/datasets/" + spec, spec, false, spec == "fashion-mnist", Format::Idx};
  const std::string hint =
      s.fashion
          ? "install it with `apt-get install dataset-fashion-mnist` (or run scripts/setup.sh)"
          : "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) there, or pass "
            "their folder as the dataset";
  CM_REQUIRE(fs::is_directory(s.path), spec, ": ", s.path, " not found; ", hint);
  return s;
}

Source resolve_source(const std::string& spec) {
  if (spec == "fashion-mnist" || spec == "mnist") return named_source(spec);
  CM_REQUIRE(fs::exists(spec), spec,
             ": no such file or folder (named datasets: fashion-mnist, mnist)");
  Source s;
  s.path = spec;
  const fs::path normal = fs::absolute(spec).lexically_normal();
  s.name =
      normal.has_filename() ? normal.filename().string() : normal.parent_path().filename().string();
  std::string lower = normal.string();
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  s.fashion = lower.find("fashion") != std::string::npos;
  if (fs::is_directory(spec)) {
    s.format = detect_folder_format(spec);
    CM_REQUIRE(s.format != Format::Unknown, spec, ": not a recognised dataset (", kExpected, ")");
  } else {
    CM_REQUIRE(is_archive_path(spec), spec, ": not a recognised dataset (", kExpected, ")");
    s.archive = true;
    s.name = archive_stem(spec);
  }
  return s;
}

Dataset read_source(const Source& s, const std::string& split, const DatasetOptions& options) {
  const Format format = s.archive ? detect_archive_format(s.path) : s.format;
  switch (format) {
    case Format::Idx:
      return s.archive ? read_idx_archive(s.path, split, s.fashion)
                       : read_idx_folder(s.path, split, s.fashion);
    case Format::Cifar:
      return s.archive ? read_cifar_archive(s.path, split) : read_cifar_folder(s.path, split);
    case Format::ImageFolder:
      return s.archive ? read_image_archive(s.path, split, options)
                       : read_image_folder(s.path, split, options);
    case Format::Unknown:
      break;
  }
  fail(s.path, ": not a recognised dataset (", kExpected, ")");
}

/// Fingerprint of everything the split's decoded content depends on.
std::string cache_key(const Source& s, const std::string& split, int image_size) {
  Fingerprint fp;
  if (s.archive) {
    fp.add_path(s.path, false);
  } else if (s.format == Format::Idx) {
    fp.add_path(s.path, true);
  } else if (s.format == Format::Cifar) {
    fp.add_path(cifar_batch_dir(s.path), true);
  } else {  // image folder: this split's files, and the class folders of the other split
    fp.add_path((fs::path(s.path) / split).string(), true);
    fp.add_path((fs::path(s.path) / (split == "train" ? "test" : "train")).string(), false);
  }
  fp.add(split);
  fp.add(std::to_string(image_size));
  fp.add(std::to_string(kDatasetReaderVersion));
  return fp.hex();
}

Dataset labelled(Dataset d, const Source& s, const std::string& split, const std::string& key) {
  d.name = s.name;
  d.split = split;
  d.source = s.path;
  d.key = key;
  return d;
}

/// Reads through the cache in `dir`: a hit returns the cached copy, a miss decodes and writes it.
Dataset load_cached(const Source& s, const std::string& split, const DatasetOptions& options,
                    const std::string& dir) {
  const std::string key = cache_key(s, split, options.image_size);
  const std::string path = dataset_cache_path(dir, s.name, split, options.image_size, key);
  if (std::optional<Dataset> cached = load_dataset_cache(path, key)) {
    spdlog::info("loaded {} {} images of {} from cache {}", cached->size(), split, s.path, path);
    return labelled(std::move(*cached), s, split, key);
  }
  const auto start = std::chrono::steady_clock::now();
  Dataset d = labelled(read_source(s, split, options), s, split, key);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  try {
    save_dataset_cache(path, d, key);
    spdlog::info("decoded {} images from {} in {:.1f} s, cached to {}", d.size(), s.path, seconds,
                 path);
  } catch (const Error& e) {
    spdlog::warn("decoded {} images from {} in {:.1f} s, not cached: {}", d.size(), s.path, seconds,
                 e.what());
  }
  return d;
}

/// load_dataset without the translation of file-system errors.
Dataset load_dataset_unchecked(const std::string& spec, const std::string& split,
                               const DatasetOptions& options) {
  const Source s = resolve_source(spec);
  const bool cacheable = s.archive || s.format != Format::Idx;  // IDX folders read in < 1 s
  const std::string dir = cacheable ? resolve_cache_dir(options.cache_dir) : "";
  if (dir.empty()) {
    return labelled(read_source(s, split, options), s, split, cache_key(s, split, options.image_size));
  }
  return load_cached(s, split, options, dir);
}

}  // namespace

Dataset load_dataset(const std::string& spec, const std::string& split,
                     const DatasetOptions& options) {
  CM_REQUIRE(split == "train" || split == "test",
             "dataset split must be \"train\" or \"test\", got \"", split, "\"");
  try {
    return load_dataset_unchecked(spec, split, options);
  } catch (const fs::filesystem_error& e) {  // a folder that cannot be listed, ...
    fail(spec, ": ", e.path1().empty() ? spec : e.path1().string(), ": ", e.code().message());
  }
}

std::string dataset_identity(const Dataset& dataset) {
  std::string key = dataset.key;
  if (key.empty()) {
    Fingerprint fp;
    fp.add(std::to_string(dataset.height) + "x" + std::to_string(dataset.width) + "x" +
           std::to_string(dataset.channels));
    for (const std::string& c : dataset.classes) fp.add(c);
    fp.add_bytes(dataset.labels.data(), dataset.labels.size() * sizeof(int32_t));
    fp.add_bytes(dataset.pixels.data(), dataset.pixels.size());
    key = "content-" + fp.hex();
  }
  return dataset.name + "/" + dataset.split + "@" + key;
}

ChannelStats compute_channel_stats(const Dataset& dataset) {
  const int64_t channels = dataset.channels;
  CM_REQUIRE(dataset.size() > 0, dataset.name,
             ": cannot compute channel statistics of an empty dataset");
  CM_CHECK(channels == 1 || channels == 3);
  // A histogram per channel makes the sums exact; mean and variance come from it in double.
  std::vector<std::array<uint64_t, 256>> histogram(static_cast<size_t>(channels));
  for (auto& h : histogram) h.fill(0);
  const uint8_t* p = dataset.pixels.data();
  for (const uint8_t* end = p + dataset.pixels.size(); p < end; p += channels) {
    for (int64_t c = 0; c < channels; ++c) ++histogram[c][p[c]];
  }
  ChannelStats stats;
  for (int64_t c = 0; c < 3; ++c) {
    const std::array<uint64_t, 256>& h = histogram[static_cast<size_t>(std::min(c, channels - 1))];
    double n = 0, sum = 0, sum_sq = 0;
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0, count = static_cast<double>(h[v]);
      n += count;
      sum += count * x;
      sum_sq += count * x * x;
    }
    const double mean = sum / n;
    stats.mean[c] = static_cast<float>(mean);
    stats.std[c] = static_cast<float>(std::sqrt(std::max(0.0, sum_sq / n - mean * mean)));
  }
  return stats;
}

}  // namespace clustermim
