/*
 * Fuzz target: the tar header parser (list_tar_members) and WebDataset grouping
 * (group_shard_samples) over an in-memory archive, as index_samples reads shards and tar trees.
 * Every accepted member must lie inside the input.
 */
#include <cstring>

#include "data/tar_index.h"
#include "data/webdataset.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  const auto file_size = static_cast<int64_t>(size);
  const ReadAt read = [&](int64_t offset, int64_t n, uint8_t* out) {
    FUZZ_EXPECT(offset >= 0 && n >= 0 && n <= file_size - offset);
    std::memcpy(out, data + offset, static_cast<size_t>(n));
  };
  fuzz::accept_or_reject([&] {
    const std::vector<TarMember> members = list_tar_members(read, file_size, "fuzz.tar");
    for (const TarMember& m : members) {
      FUZZ_EXPECT(m.offset >= 512 && m.size >= 0 && m.size <= file_size - m.offset);
    }
    for (const ShardSample& s : group_shard_samples(members, read, "fuzz.tar")) {
      FUZZ_EXPECT(s.offset >= 512 && s.size <= file_size - s.offset && s.label >= -1);
    }
  });
  return 0;
}
