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
          copy(batch.indices, {b}, torch::kLong), {}};
}

void for_each_eval_batch(const ImageSource& source, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn) {
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.augment = false;
  lo.image_size = static_cast<int>(options.image_size);
  lo.crop_ratio = options.crop_ratio;
  lo.stats = stats;
  lo.workers = options.workers;
  lo.max_bad_fraction = options.max_bad_fraction;
  BatchLoader loader(source, lo);
  loader.start_epoch(0);
  Batch batch;
  int64_t first = 0;  // epoch position of the batch's first row (in order, unsharded)
  while (loader.next(batch)) {
    TensorBatch t = to_tensors(batch, device);
    for (const BadSample& bad : batch.bad) t.replaced_rows.push_back(bad.position - first);
    fn(t);
    first += batch.size;
  }
}

void for_each_eval_batch(const Dataset& dataset, const ChannelStats& stats,
                         const EvalPassOptions& options, torch::Device device,
                         const std::function<void(const TensorBatch&)>& fn) {
  const MemoryImageSource source(dataset);
  for_each_eval_batch(source, stats, options, device, fn);
}

}  // namespace clustermim
