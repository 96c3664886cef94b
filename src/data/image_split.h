/*
 * One switch between the two ways a split is read (`data.storage`): decoded once into memory (a
 * Dataset; CIFAR-scale data keeps its speed) or streamed from its encoded bytes every epoch (a
 * SampleIndex; memory holds the index, never the pixels). Every consumer (tokenizer fit, TCAS,
 * pretraining, feature extraction, fine-tuning) reads either through the same ImageSource.
 *
 * auto: memory when the decoded split (N x S x S x 3 bytes at the requested side S) fits
 * `memory_budget_gb`, else stream. IDX and CIFAR-10 binaries are always read into memory (they
 * have no encoded samples to stream). In memory, a sample source (a folder, an archive, shards) is
 * decoded from its index by the stream's decoder, each image as its evaluation crop at crop ratio
 * 1 (shorter side to S, center crop S): the same pixels whichever container holds the files and
 * whichever storage reads them. Only at the native size (S = 0, images of one size) does
 * load_dataset read a labeled train/test tree, with its decoded cache.
 */
#pragma once

#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/image_source.h"
#include "data/stream_image_source.h"

namespace clustermim {

/// How a split is held.
enum class Storage { kAuto, kMemory, kStream };

/// "auto" | "memory" | "stream"; Error naming `what` (the key or flag) otherwise.
Storage parse_storage(const std::string& name, const std::string& what = "data.storage");
/// The name parse_storage reads.
std::string storage_name(Storage storage);

/// How open_image_split reads.
struct SplitOptions {
  Storage storage = Storage::kAuto;
  double memory_budget_gb = 4;  ///< auto: the most decoded pixels (GB, 1e9 bytes) held in memory
  DatasetOptions dataset;       ///< image_size: the side S decoded in memory (0 = native, needs
                                ///< images of one size); cache_dir and threads for both storages
};

/// An opened split: the decoded Dataset (memory) or nothing (stream), and the ImageSource over it.
struct ImageSplit {
  std::unique_ptr<Dataset> dataset;     ///< memory: the decoded split; stream: null
  std::unique_ptr<ImageSource> source;  ///< MemoryImageSource over *dataset, or StreamImageSource
  bool streamed() const { return dataset == nullptr; }
  bool labeled() const { return source->num_classes() > 0; }
  /// Corrupt samples left out: memory, those that did not decode; stream, the distinct samples
  /// that have failed so far (each pass replaces them, see data/loader.h).
  int64_t skipped() const;
};

/// Opens split `split` of `spec` (anything load_dataset or index_samples reads) as `options` say,
/// logging the storage chosen and why. Error naming the source and the problem.
ImageSplit open_image_split(const std::string& spec, const std::string& split,
                            const SplitOptions& options = {});

/// Decodes every sample of `source` as its evaluation crop at crop ratio 1 and side `side` into a
/// Dataset of [N, side, side, 3] (`threads` workers, 0 = all cores); an unlabeled index gives
/// labels -1 and no classes. Samples that fail to decode are left out and counted in
/// Dataset::skipped (each logged by name).
/// Dataset::key is the index key and the side.
Dataset materialize_split(const StreamImageSource& source, int side, int threads = 0);

}  // namespace clustermim
