/*
 * Tensor <-> tensor-file records (see tensor_io.h).
 */
#include "backend/tensor_io.h"

#include "core/error.h"

namespace clustermim {

namespace {

DType to_dtype(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return DType::F32;
    case torch::kBFloat16: return DType::BF16;
    case torch::kHalf: return DType::F16;
    case torch::kInt64: return DType::I64;
    case torch::kInt32: return DType::I32;
    case torch::kUInt8: return DType::U8;
    default: fail("tensor files cannot store dtype ", c10::toString(type));
  }
}

torch::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return torch::kFloat32;
    case DType::BF16: return torch::kBFloat16;
    case DType::F16: return torch::kHalf;
    case DType::I64: return torch::kInt64;
    case DType::I32: return torch::kInt32;
    case DType::U8: return torch::kUInt8;
  }
  return torch::kFloat32;
}

}  // namespace

void put_tensor(TensorFile& file, const std::string& name, const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
  file.add(name, to_dtype(t.scalar_type()), t.sizes().vec(), t.data_ptr());
}

torch::Tensor record_to_tensor(const TensorRecord& record) {
  void* data = const_cast<uint8_t*>(record.data.data());
  return torch::from_blob(data, record.shape, to_scalar_type(record.dtype)).clone();
}

torch::Tensor get_tensor(const TensorFile& file, const std::string& name,
                         c10::optional<torch::IntArrayRef> expected_shape) {
  const TensorRecord& record = file.get(name);
  if (expected_shape.has_value()) {
    CM_REQUIRE(torch::IntArrayRef(record.shape) == *expected_shape, file.source, ": tensor '",
               name, "' has shape ", torch::IntArrayRef(record.shape), ", expected ",
               *expected_shape);
  }
  return record_to_tensor(record);
}

}  // namespace clustermim
