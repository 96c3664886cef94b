/*
 * The self-describing binary container behind every file clustermim writes (tokenizers,
 * decoded-dataset caches, checkpoints, feature caches).
 *
 * Layout (all integers little-endian):
 *   magic     4 bytes, names the file kind ("CMTK" tokenizer, "CMDS" dataset cache, ...)
 *   version   u32, the container version (kTensorFileVersion)
 *   hdr_len   u64, length of the JSON header
 *   header    JSON: {"meta": {...free-form...}, "tensors": [{"name", "dtype", "shape",
 *             "offset", "nbytes"}, ...]}; offsets are relative to the start of the data section
 *   padding   zeros up to a multiple of 64 bytes from the start of the file
 *   data      raw tensor bytes, each tensor 64-byte aligned
 *   crc32     u32 CRC-32 (zlib) of every byte before it
 * A reader checks magic, version, header bounds, every tensor's dtype/shape/extent and the CRC
 * before it trusts anything, and names the file in every error. Torch-free on purpose: it is
 * used by code that must build without LibTorch and is fuzzed.
 */
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace clustermim {

constexpr uint32_t kTensorFileVersion = 1;

/// Element types a tensor file can hold.
enum class DType { F32, BF16, I64, I32, U8, F16 };

/// Bytes per element of `dtype`.
size_t dtype_size(DType dtype);
/// "F32", "BF16", "I64", "I32", "U8", "F16" (the safetensors spellings).
const char* dtype_name(DType dtype);

/// One named tensor: raw little-endian bytes in row-major order.
struct TensorRecord {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  ///< numel(shape) * dtype_size(dtype) bytes

  int64_t numel() const;
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data.data()); }
};

/// The in-memory form of a tensor file.
struct TensorFile {
  std::string magic;         ///< exactly 4 characters
  nlohmann::json meta = nlohmann::json::object();
  std::vector<TensorRecord> tensors;

  /// Adds a tensor copied from `src` (numel(shape) elements of `dtype`).
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* src);
  /// The tensor called `name`; throws Error naming `source` when absent.
  const TensorRecord& get(const std::string& name) const;
  std::string source;        ///< path it was loaded from (for error messages)
};

/// Serializes to bytes (what save_tensor_file writes).
std::vector<uint8_t> encode_tensor_file(const TensorFile& file);
/// Parses bytes; `path` only names the file in errors. Checks magic when `expected_magic` is set.
TensorFile decode_tensor_file(const uint8_t* bytes, size_t size, const std::string& path,
                              const std::string& expected_magic);

/// Writes atomically (temp file + rename).
void save_tensor_file(const std::string& path, const TensorFile& file);
/// Reads and validates; throws Error("<path>: <problem>") on any defect.
TensorFile load_tensor_file(const std::string& path, const std::string& expected_magic);

}  // namespace clustermim
