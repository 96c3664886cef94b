/*
 * A labeled image dataset held in memory as one flat uint8 array, and the entry point that opens
 * one from a name or a path.
 *
 * Every reader (MNIST/Fashion-MNIST IDX, CIFAR-10 binary, image folders in a directory or a
 * .tar/.tar.gz archive) produces the same `Dataset`: images `[N, H, W, C]` uint8 (C = 1 or 3),
 * labels `[N]` in 0..num_classes-1, class names sorted as the format defines them (image folders:
 * by name). Decoding happens once: `load_dataset` keeps a decoded copy in a cache file keyed by
 * source, split and size, so a second run starts in seconds.
 */
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace clustermim {

/// A labeled image set in memory.
struct Dataset {
  std::string name;    ///< short name, e.g. "fashion-mnist", "cifar10-jpg"
  std::string split;   ///< "train" or "test"
  std::string source;  ///< the path that was read
  int64_t height = 0, width = 0, channels = 0;  ///< every image has this shape (C = 1 or 3)
  std::vector<uint8_t> pixels;                  ///< [N, H, W, C]
  std::vector<int32_t> labels;                  ///< [N], values in [0, classes.size()); -1
                                                ///< when unlabeled (classes empty)
  std::vector<std::string> classes;             ///< class names, index = label
  int64_t skipped = 0;                          ///< corrupt samples left out while reading
  std::string key;  ///< content key of the files read (load_dataset); "" when built in memory

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return height * width * channels; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_bytes(); }
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
};

/// How `load_dataset` reads and caches.
struct DatasetOptions {
  int image_size = 0;      ///< image folders: resize (shorter side) + center crop to this; 0 = native
  std::string cache_dir;   ///< "" = $CLUSTERMIM_CACHE, else $XDG_CACHE_HOME/clustermim, else ~/.cache/clustermim; "none" = no cache
  int threads = 0;         ///< decode threads; 0 = all cores
};

/// Per-channel statistics of pixel values scaled to [0, 1].
struct ChannelStats {
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};
};

/// Opens split `split` ("train" | "test") of `spec`: "fashion-mnist" (the Debian install under
/// /usr/share/datasets/fashion-mnist), "mnist" likewise, or a path whose format is detected:
/// a folder or archive of IDX files, of CIFAR-10 binary batches, or an image-folder tree
/// `root/{train,test}/<class>/*.{jpg,jpeg,png}` (a folder, .tar or .tar.gz; one top folder inside
/// an archive is allowed). Throws Error naming the path and the problem.
Dataset load_dataset(const std::string& spec, const std::string& split,
                     const DatasetOptions& options = {});

/// What a file made from `dataset` records about it: "<name>/<split>@<key>", with a hash of the
/// pixels and labels standing in for the key of a dataset built in memory (a subset, a test's).
std::string dataset_identity(const Dataset& dataset);

/// Mean and std per channel (values in [0, 1]); grayscale datasets repeat channel 0 three times.
ChannelStats compute_channel_stats(const Dataset& dataset);

}  // namespace clustermim
