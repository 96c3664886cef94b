/*
 * Fuzz target: the self-describing tensor container (.cmtk tokenizers, .cmck checkpoints, .cmft
 * features) and, on top of it, the decoded-dataset cache (.cmds).
 */
#include <zlib.h>

#include <vector>

#include "data/dataset_cache.h"
#include "fuzz_common.h"
#include "io/tensor_file.h"

namespace {

/// The input with its last four bytes replaced by the right CRC-32, so that mutations reach the
/// header and tensor table instead of stopping at the checksum.
std::vector<uint8_t> with_valid_crc(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (bytes.size() < 4) return bytes;
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), bytes.data(), static_cast<uInt>(bytes.size() - 4));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
  return bytes;
}

void decode_and_check(const std::vector<uint8_t>& bytes) {
  using namespace clustermim;
  const TensorFile f = decode_tensor_file(bytes.data(), bytes.size(), "fuzz.cmck", "");
  for (const TensorRecord& t : f.tensors) {
    FUZZ_EXPECT(static_cast<size_t>(t.numel()) * dtype_size(t.dtype) == t.data.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  fuzz::accept_or_reject([&] { decode_and_check({data, data + size}); });
  const std::vector<uint8_t> fixed = with_valid_crc(data, size);
  fuzz::accept_or_reject([&] { decode_and_check(fixed); });
  const auto path = fuzz::scratch_dir() / "fuzz.cmds";
  fuzz::write_bytes(path, fixed.data(), fixed.size());
  fuzz::accept_or_reject([&] {
    const auto d = load_dataset_cache(path.string(), "key");
    if (d) FUZZ_EXPECT(d->pixels.size() == static_cast<size_t>(d->size() * d->image_bytes()));
  });
  return 0;
}
