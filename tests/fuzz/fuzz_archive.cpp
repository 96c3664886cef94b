/*
 * Fuzz target: .tar / .tar.gz archives as dataset sources (image-folder trees, CIFAR batches,
 * IDX files inside). libarchive detects the compression from the bytes.
 */
#include "data/archive.h"
#include "data/cifar_reader.h"
#include "data/idx_reader.h"
#include "data/image_folder_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  const auto path = (fuzz::scratch_dir() / "fuzz.tar.gz").string();
  fuzz::write_bytes(path, data, size);
  fuzz::accept_or_reject([&] { read_archive(path, [](const std::string&) { return true; }); });
  DatasetOptions options;
  options.threads = 1;
  options.cache_dir = "none";
  fuzz::accept_or_reject([&] { read_image_archive(path, "train", options); });
  fuzz::accept_or_reject([&] { read_cifar_archive(path, "test"); });
  fuzz::accept_or_reject([&] { read_idx_archive(path, "train", true); });
  return 0;
}
