/*
 * Bridges the torch-free data pipeline (data/loader.h) to LibTorch tensors.
 *
 * `for_each_eval_batch` walks a dataset in order with the deterministic eval transform (resize +
 * center crop + normalize), hands each batch over as tensors on the requested device, and is what
 * tokenizer fitting, TCAS and feature extraction iterate with.
 */
#pragma once

#include <functional>

#include "backend/torch_pch.h"
#include "data/dataset.h"
#include "data/loader.h"

namespace clustermim {

/// A batch as tensors.
struct TensorBatch {
  torch::Tensor images;   ///< [B, 3, S, S] float32, normalized
  torch::Tensor labels;   ///< [B] int64
  torch::Tensor indices;  ///< [B] int64 dataset indices
};

/// Copies a loader batch into tensors on `device`.
TensorBatch to_tensors(const Batch& batch, torch::Device device);

/// Options of an in-order, unaugmented pass over a dataset.
struct EvalPassOptions {
  int64_t image_size = 0;      ///< S; 0 = the dataset's size
  int64_t batch_size = 256;
  int workers = 2;
};

/// Calls `fn` on every batch of `dataset` in index order (no augmentation).
void for_each_eval_batch(const Dataset& dataset, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn);

}  // namespace clustermim
