/*
 * LibTorch tensors <-> records of the self-describing tensor file (io/tensor_file.h).
 */
#pragma once

#include <string>

#include "backend/torch_pch.h"
#include "io/tensor_file.h"

namespace clustermim {

/// Adds `tensor` (any device; float32, bfloat16, float16, int64, int32 or uint8) to `file` as
/// `name`.
void put_tensor(TensorFile& file, const std::string& name, const torch::Tensor& tensor);

/// A CPU tensor copied out of `record` with the record's dtype.
torch::Tensor record_to_tensor(const TensorRecord& record);

/// The tensor called `name` in `file`; throws Error naming the file when it is missing or its
/// shape differs from `expected_shape` (when one is given).
torch::Tensor get_tensor(const TensorFile& file, const std::string& name,
                         c10::optional<torch::IntArrayRef> expected_shape = c10::nullopt);

}  // namespace clustermim
