/*
 * Fuzz target: CIFAR-10 binary batch files and batches.meta.txt.
 */
#include <string>
#include <vector>

#include "data/cifar_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  const std::vector<uint8_t> bytes(data, data + size);
  fuzz::accept_or_reject([&] {
    Dataset d;
    d.classes = cifar_class_names(std::string(data, data + std::min<size_t>(size, 256)));
    d.height = d.width = kCifarSide;
    d.channels = 3;
    append_cifar_batch(bytes, "fuzz.bin", d);
    append_cifar_batch(bytes, "fuzz.bin", d);
  });
  return 0;
}
