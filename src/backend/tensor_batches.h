/*
 * Bridges the torch-free data pipeline (data/loader.h) to LibTorch tensors.
 *
 * `to_tensors` takes either kind of loader batch: normalized floats, or uint8 pixels
 * (LoaderOptions::uint8_pixels), which it copies to a GPU through pinned memory without blocking
 * and normalizes and erases there, giving the same tensor as the float batch.
 * `for_each_eval_batch` walks an ImageSource (in memory or streamed) in order with the
 * deterministic eval transform (resize + center crop + normalize), hands each batch over as
 * tensors on the requested device, and is what tokenizer fitting, TCAS and feature extraction
 * iterate with. Only the loader's bounded queue of batches is in memory at a time, never the
 * split's pixels.
 */
#pragma once

#include <functional>
#include <vector>

#include "backend/torch_pch.h"
#include "data/dataset.h"
#include "data/image_source.h"
#include "data/loader.h"

namespace clustermim {

/// A batch as tensors.
struct TensorBatch {
  torch::Tensor images;   ///< [B, 3, S, S] float32, normalized
  torch::Tensor labels;   ///< [B] int64 (-1 for an unlabeled source)
  torch::Tensor indices;  ///< [B] int64 sample indices
  /// Rows (in [0, B)) whose own sample failed to decode: the loader put the next good sample
  /// there (loader.h), so a consumer that needs one row per sample drops them. Filled by
  /// for_each_eval_batch; empty from to_tensors.
  std::vector<int64_t> replaced_rows;
};

/// Copies a loader batch into tensors on `device`; uint8 pixels are normalized with batch.stats
/// and erased (batch.erasures) there, equal to the loader's floats.
TensorBatch to_tensors(const Batch& batch, torch::Device device);

/// Whether loaders feeding `device` should hand over uint8 pixels (LoaderOptions::uint8_pixels):
/// yes for a GPU, which then gets a quarter of the bytes; no for the CPU, where there is no copy
/// to save and the loader's workers normalize beside the training step.
bool uint8_batches_for(torch::Device device);

/// Options of an in-order, unaugmented pass over a source.
struct EvalPassOptions {
  int64_t image_size = 0;      ///< S; 0 = the source's native side (Error when sizes vary)
  /// Evaluation crop ratio in (0, 1]: shorter side to S / crop_ratio, center crop S; 0 = the
  /// source's default (1 in memory, 0.875 streamed).
  float crop_ratio = 0.f;
  int64_t batch_size = 256;
  int workers = 2;
  double max_bad_fraction = 0.001;  ///< as LoaderOptions: more bad samples stop with Error
};

/// Calls `fn` on every batch of `source` in index order (no augmentation).
void for_each_eval_batch(const ImageSource& source, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn);
/// The same over a MemoryImageSource of `dataset`.
void for_each_eval_batch(const Dataset& dataset, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn);

}  // namespace clustermim
