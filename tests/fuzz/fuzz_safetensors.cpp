/*
 * Fuzz target: safetensors files (pretrained weights from PyTorch / timm). Whatever the decoder
 * accepts must be self-consistent (every tensor holds numel * dtype_size bytes) and must survive
 * encode -> decode unchanged (FUZZ_EXPECT aborts on a broken invariant).
 */
#include <optional>

#include "fuzz_common.h"
#include "io/safetensors.h"

namespace {

using clustermim::SafetensorsFile;
using clustermim::TensorRecord;

void check_sizes(const SafetensorsFile& f) {
  using namespace clustermim;
  for (const TensorRecord& t : f.tensors) {
    FUZZ_EXPECT(static_cast<size_t>(t.numel()) * dtype_size(t.dtype) == t.data.size());
  }
}

/// Re-encoding what was decoded and decoding it again gives the same tensors and metadata.
void check_round_trip(const SafetensorsFile& f) {
  using namespace clustermim;
  const std::vector<uint8_t> bytes = encode_safetensors(f.tensors, f.metadata);
  const SafetensorsFile again = decode_safetensors(bytes.data(), bytes.size(), "again");
  FUZZ_EXPECT(again.metadata == f.metadata);
  FUZZ_EXPECT(again.tensors.size() == f.tensors.size());
  for (const TensorRecord& t : f.tensors) {
    const TensorRecord& u = again.get(t.name);
    FUZZ_EXPECT(u.dtype == t.dtype && u.shape == t.shape && u.data == t.data);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  std::optional<SafetensorsFile> decoded;
  fuzz::accept_or_reject([&] { decoded = decode_safetensors(data, size, "fuzz.safetensors"); });
  if (!decoded) return 0;
  check_sizes(*decoded);
  check_round_trip(*decoded);
  return 0;
}
