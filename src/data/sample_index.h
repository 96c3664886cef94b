/*
 * Sample sources that index, not decode: where every sample's encoded bytes are, and its label.
 *
 * A dataset at ImageNet scale cannot be decoded into memory (ImageNet-1K's train split would be
 * about 190 GB at 224 px), so a streaming run lists its samples once, as (file, byte range,
 * label), and decodes each one when a batch needs it. The index of a source is built once and
 * cached under a content key of the files it lists (their paths, sizes and modification times),
 * so reopening costs time proportional to the index, not to the data.
 *
 * Sources: labeled image folders `root/<split>/<class>/...` (ImageNet's `train/`, `val/`: `test`
 * falls back to `val`, saying so), an unlabeled folder (no train/, test/ or val/ subfolder: every
 * image below it is one unlabeled split `train`), tar archives of such trees (a .tar.gz is
 * unpacked once into the cache as a plain .tar, since gzip cannot be read at an offset), and
 * WebDataset shards (the .tar files in `root/<split>/`, or a brace list
 * `root/train-{000000..000146}.tar`; a sample is the run of adjacent members sharing a key:
 * KEY.jpg|jpeg|png and an optional KEY.cls holding the integer label; see webdataset.h). Classes
 * of shards: the lines of a `classes.txt` beside them, else "0".."largest label".
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustermim {

/// Where one sample's encoded bytes lie.
struct SampleRef {
  int32_t file = 0;    ///< index into SampleIndex::files
  int64_t offset = 0;  ///< first byte inside that file (0 for a plain image file)
  int64_t size = 0;    ///< bytes
  int32_t label = -1;  ///< class index in [0, classes.size()); -1 when the source is unlabeled
};

/// Every sample of one split of a source, in a fixed order: by class, then path (folders and
/// archives; unlabeled folders by path), or in shard order (WebDataset).
struct SampleIndex {
  std::string source;                ///< the spec that was indexed
  std::string split;                 ///< the split actually read ("val" when "test" fell back)
  std::string key;                   ///< content key of the listed files
  std::vector<std::string> files;    ///< absolute paths: image files or tar shards
  std::vector<SampleRef> samples;    ///< [N]
  std::vector<std::string> names;    ///< [N] for messages: a path, or "shard.tar:KEY"
  std::vector<std::string> classes;  ///< class names, index = label; empty when unlabeled

  int64_t size() const { return static_cast<int64_t>(samples.size()); }
  bool labeled() const { return !classes.empty(); }
};

/// How `index_samples` reads and caches.
struct IndexOptions {
  std::string cache_dir;  ///< as DatasetOptions::cache_dir ("none" = no cache)
};

/// Indexes split `split` of `spec` (a folder, a .tar/.tar.gz, a WebDataset shard folder or brace
/// list). Throws Error naming the path and the problem (no images, unknown split, ...).
SampleIndex index_samples(const std::string& spec, const std::string& split,
                          const IndexOptions& options = {});

/// True when `index_samples` reads `spec` (an image folder or archive, an unlabeled folder,
/// WebDataset shards); false for what only `load_dataset` reads (fashion-mnist, mnist, IDX and
/// CIFAR-10 binaries in a folder or archive) and for a path that does not exist.
bool is_sample_source(const std::string& spec);

/// The encoded bytes of sample `i` (one positioned read). Throws Error naming the sample when its
/// file is missing or shorter than the index says.
std::vector<uint8_t> read_sample(const SampleIndex& index, int64_t i);

}  // namespace clustermim
