/*
 * Reader and writer for safetensors, the weight format of Hugging Face / timm checkpoints, so
 * that pretrained weights exported from PyTorch can be loaded (and ours exported) without
 * LibTorch or Python.
 *
 * Layout (https://github.com/huggingface/safetensors):
 *   hdr_len   u64 little-endian, length N of the JSON header
 *   header    N bytes of UTF-8 JSON: {"<tensor name>": {"dtype": "F32", "shape": [..],
 *             "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<value>"}}
 *             (optional metadata; the writer pads the header with spaces to a multiple of 8)
 *   data      raw little-endian row-major tensor bytes; offsets are relative to its start
 * The reader checks the header length, every entry's dtype, shape and extent against the bytes
 * actually present before it allocates anything, and names the file in every error. F32, BF16,
 * I64, I32 and U8 are kept as stored; F16 and F64 are converted to F32 (the DType set of
 * io/tensor_file.h has no half or double); any other dtype is an error. Torch-free and fuzzed.
 */
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/tensor_file.h"

namespace clustermim {

/// The in-memory form of a safetensors file.
struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  ///< the "__metadata__" object (may be empty)
  std::vector<TensorRecord> tensors;            ///< by increasing data offset, ties by name
  std::string source;                           ///< path it was loaded from (for error messages)

  /// The tensor called `name`; throws Error naming `source` when absent.
  const TensorRecord& get(const std::string& name) const;
  /// Whether a tensor called `name` is present.
  bool contains(const std::string& name) const;
};

/// Parses safetensors bytes; `path` only names the file in errors. Throws Error("<path>: ...")
/// on any defect; F16 and F64 tensors come back as F32.
SafetensorsFile decode_safetensors(const uint8_t* bytes, size_t size, const std::string& path);

/// Reads and validates a .safetensors file; throws Error("<path>: <problem>") on any defect.
SafetensorsFile load_safetensors(const std::string& path);

/// Serializes tensors (written in name order, contiguous, header space-padded to a multiple of 8)
/// and, when non-empty, `metadata` as "__metadata__". Duplicate names are an Error.
std::vector<uint8_t> encode_safetensors(const std::vector<TensorRecord>& tensors,
                                        const std::map<std::string, std::string>& metadata);

/// Writes what encode_safetensors produces, atomically (temp file + rename).
void save_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata);

}  // namespace clustermim
