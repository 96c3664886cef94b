/*
 * Fuzz target: IDX image and label files, raw or gzipped (MNIST / Fashion-MNIST format).
 */
#include <vector>

#include "data/idx_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  const std::vector<uint8_t> bytes(data, data + size);
  fuzz::accept_or_reject([&] { parse_idx_images(gunzip_if_gzip(bytes, "fuzz.gz"), "fuzz"); });
  fuzz::accept_or_reject([&] { parse_idx_labels(gunzip_if_gzip(bytes, "fuzz.gz"), "fuzz", 10); });
  // The same bytes as the image file and, shifted, as the label file of one dataset.
  const size_t half = size / 2;
  fuzz::accept_or_reject([&] {
    make_idx_dataset({data, data + half}, "images", {data + half, data + size}, "labels", true);
  });
  return 0;
}
