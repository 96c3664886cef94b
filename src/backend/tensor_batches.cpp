/*
 * Loader batches -> tensors (see tensor_batches.h).
 */
#include "backend/tensor_batches.h"

namespace clustermim {

namespace {

/// A host tensor over `values` (no copy; valid while they are).
template <class T>
torch::Tensor host_view(const std::vector<T>& values, std::vector<int64_t> shape,
                        torch::ScalarType dtype) {
  return torch::from_blob(const_cast<T*>(values.data()), shape, dtype);
}

/// `host` on `device`: itself on the CPU; on a GPU through pinned memory, copied without blocking
/// (the caching host allocator keeps the pinned block until the copy is done).
torch::Tensor send(const torch::Tensor& host, torch::Device device) {
  if (device.is_cpu()) return host;
  torch::Tensor pinned = torch::empty(host.sizes(), host.options().pinned_memory(true));
  pinned.copy_(host);
  return pinned.to(device, /*non_blocking=*/true);
}

/// [1, 3, 1, 1] float32 on `device`.
torch::Tensor per_channel(const std::array<float, 3>& values, torch::Device device) {
  return torch::tensor(std::vector<float>(values.begin(), values.end()))
      .view({1, 3, 1, 1})
      .to(device);
}

/// batch.pixels as floats on `device`: (v / 255 - mean) / std, the loader's float formula op for
/// op (tensor divisors, not scalars, which torch may turn into multiplications), then erased.
torch::Tensor normalize_pixels(const Batch& batch, torch::Device device) {
  const int64_t b = batch.size, s = batch.image_size;
  torch::Tensor images = send(host_view(batch.pixels, {b, 3, s, s}, torch::kUInt8), device)
                             .to(torch::kFloat32);
  images.div_(torch::full({1, 3, 1, 1}, 255.f, images.options()))
      .sub_(per_channel(batch.stats.mean, device))
      .div_(per_channel(batch.stats.std, device));
  if (batch.erasures.empty()) return images;
  const torch::Tensor noise = send(
      host_view(batch.erase_noise, {static_cast<int64_t>(batch.erase_noise.size())},
                torch::kFloat32),
      device);
  for (const BatchErasure& e : batch.erasures) {
    const EraseBox& box = e.box;
    images[e.row]
        .slice(1, box.top, box.top + box.height)
        .slice(2, box.left, box.left + box.width)
        .copy_(noise.slice(0, e.offset, e.offset + 3 * box.height * box.width)
                   .view({3, box.height, box.width}));
  }
  return images;
}

}  // namespace

TensorBatch to_tensors(const Batch& batch, torch::Device device) {
  const int64_t b = batch.size, s = batch.image_size;
  auto copy = [&](const auto& values, std::vector<int64_t> shape, torch::ScalarType dtype) {
    return host_view(values, shape, dtype).to(device, /*non_blocking=*/false, /*copy=*/true);
  };
  torch::Tensor images = batch.pixels.empty() ? copy(batch.images, {b, 3, s, s}, torch::kFloat32)
                                              : normalize_pixels(batch, device);
  return {images, copy(batch.labels, {b}, torch::kLong), copy(batch.indices, {b}, torch::kLong),
          {}};
}

bool uint8_batches_for(torch::Device device) { return !device.is_cpu(); }

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
  lo.uint8_pixels = uint8_batches_for(device);
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
