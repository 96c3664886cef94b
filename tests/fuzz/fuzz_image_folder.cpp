/*
 * Fuzz target: one image file (JPEG, PNG or anything else) inside an image-folder dataset, read
 * at its native size and resized. A corrupt image must be skipped and counted, or the read
 * rejected with an Error when nothing decodes; never a crash.
 */
#include "data/image_folder_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clustermim;
  const auto root = fuzz::scratch_dir() / "images";
  const bool png = size > 0 && data[0] == 0x89;
  std::filesystem::remove_all(root);  // exactly one image: the previous input's may differ in name
  fuzz::write_bytes(root / "train" / "a" / (png ? "x.png" : "x.jpg"), data, size);
  for (int image_size : {0, 16}) {
    DatasetOptions options;
    options.image_size = image_size;
    options.threads = 1;
    options.cache_dir = "none";
    fuzz::accept_or_reject([&] {
      const Dataset d = read_image_folder(root.string(), "train", options);
      FUZZ_EXPECT(d.size() + d.skipped == 1);
      FUZZ_EXPECT(d.pixels.size() == static_cast<size_t>(d.size() * d.image_bytes()));
    });
  }
  return 0;
}
