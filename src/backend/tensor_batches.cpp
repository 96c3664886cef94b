/*
 * Loader batches -> tensors (see tensor_batches.h).
 */
#include "backend/tensor_batches.h"

namespace clustermim {

TensorBatch to_tensors(const Batch& batch, torch::Device device) {
  const int64_t b = batch.size, s = batch.image_size;
  auto copy = [&](const auto& values, std::vector<int64_t> shape, torch::ScalarType dtype) {
    auto* data = const_cast<void*>(static_cast<const void*>(values.data()));
    return torch::from_blob(data, shape, dtype).to(device, /*non_blocking=*/false, /*copy=*/true);
  };
  return {copy(batch.images, {b, 3, s, s}, torch::kFloat32), copy(batch.labels, {b}, torch::kLong),
          copy(batch.indices, {b}, torch::kLong)};
}

void for_each_eval_batch(const Dataset& dataset, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn) {
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.augment = false;
  lo.image_size = static_cast<int>(options.image_size);
  lo.stats = stats;
  lo.workers = options.workers;
  BatchLoader loader(dataset, lo);
  loader.start_epoch(0);
  Batch batch;
  while (loader.next(batch)) fn(to_tensors(batch, device));
}

}  // namespace clustermim
