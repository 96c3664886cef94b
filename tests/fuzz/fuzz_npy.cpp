/*
 * Fuzz target: NumPy .npy and .npz files, and token files read from them. Whatever the decoders
 * accept must be self-consistent (every array holds numel * itemsize bytes) and survive
 * encode -> decode unchanged; a token set accepted from an .npz must pass check_token_labels
 * (FUZZ_EXPECT aborts on a broken invariant).
 */
#include <optional>

#include "fuzz_common.h"
#include "io/npy.h"
#include "metrics/token_file.h"

namespace {

using clustermim::NpyArray;

void check_array(const NpyArray& a) {
  FUZZ_EXPECT(static_cast<size_t>(a.numel()) * clustermim::npy_itemsize(a.dtype) == a.data.size());
}

bool same(const NpyArray& a, const NpyArray& b) {
  return a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.data == b.data;
}

void check_npy(const NpyArray& a) {
  using namespace clustermim;
  check_array(a);
  const std::vector<uint8_t> bytes = encode_npy(a);
  FUZZ_EXPECT(same(decode_npy(bytes.data(), bytes.size(), "again.npy"), a));
}

void check_npz(const std::vector<NpyArray>& arrays) {
  using namespace clustermim;
  for (const NpyArray& a : arrays) {
    check_array(a);
    if (a.name.empty()) return;  // a member called ".npy": decodable, but the writer needs a name
  }
  const std::vector<uint8_t> bytes = encode_npz(arrays);
  const std::vector<NpyArray> again = decode_npz(bytes.data(), bytes.size(), "again.npz");
  FUZZ_EXPECT(again.size() == arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) FUZZ_EXPECT(same(again[i], arrays[i]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  std::optional<NpyArray> npy;
  fuzz::accept_or_reject([&] { npy = decode_npy(data, size, "fuzz.npy"); });
  if (npy) check_npy(*npy);
  std::optional<std::vector<NpyArray>> npz;
  fuzz::accept_or_reject([&] { npz = decode_npz(data, size, "fuzz.npz"); });
  if (!npz) return 0;
  check_npz(*npz);
  std::optional<TokenLabelSet> set;
  fuzz::accept_or_reject([&] { set = decode_token_labels(data, size, "fuzz.npz"); });
  if (!set) return 0;
  bool valid = true;
  try {
    check_token_labels(set->view(), "fuzz.npz");
  } catch (const Error&) {
    valid = false;
  }
  FUZZ_EXPECT(valid);
  return 0;
}
