/*
 * CIFAR-10 binary batches -> Dataset (see cifar_reader.h).
 */
#include "data/cifar_reader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "data/archive.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kPlane = kCifarSide * kCifarSide;
const char* const kMetaName = "batches.meta.txt";

Dataset empty_cifar(const std::string& meta_text) {
  Dataset d;
  d.height = d.width = kCifarSide;
  d.channels = 3;
  d.classes = cifar_class_names(meta_text);
  return d;
}

std::string read_text_if_exists(const fs::path& path) {
  if (!fs::is_regular_file(path)) return "";
  const std::vector<uint8_t> bytes = read_file_bytes(path.string());
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::vector<std::string> cifar_batch_names(const std::string& split) {
  if (split == "test") return {"test_batch.bin"};
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  return names;
}

std::vector<std::string> cifar_class_names(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) {
    names = {"airplane", "automobile", "bird",  "cat",  "deer",
             "dog",      "frog",       "horse", "ship", "truck"};
  }
  return names;
}

void append_cifar_batch(const std::vector<uint8_t>& bytes, const std::string& name,
                        Dataset& dataset) {
  const int64_t size = static_cast<int64_t>(bytes.size());
  CM_REQUIRE(size > 0 && size % kCifarRecordBytes == 0, name, ": ", size,
             " bytes is not a whole number of 3073-byte CIFAR records (truncated?)");
  const int64_t count = size / kCifarRecordBytes;
  const size_t base = dataset.pixels.size();
  dataset.pixels.resize(base + static_cast<size_t>(count * 3 * kPlane));
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* record = bytes.data() + r * kCifarRecordBytes;
    CM_REQUIRE(record[0] < dataset.num_classes(), name, ": label ", int{record[0]}, " in record ",
               r, " is out of range (", dataset.num_classes(), " classes)");
    dataset.labels.push_back(record[0]);
    uint8_t* out = dataset.pixels.data() + base + r * 3 * kPlane;
    for (int64_t p = 0; p < kPlane; ++p) {
      for (int64_t c = 0; c < 3; ++c) out[p * 3 + c] = record[1 + c * kPlane + p];
    }
  }
}

std::string cifar_batch_dir(const std::string& folder) {
  for (const fs::path& dir : {fs::path(folder), fs::path(folder) / "cifar-10-batches-bin"}) {
    if (fs::is_regular_file(dir / "data_batch_1.bin") ||
        fs::is_regular_file(dir / "test_batch.bin")) {
      return dir.string();
    }
  }
  return "";
}

Dataset read_cifar_folder(const std::string& folder, const std::string& split) {
  const std::string dir = cifar_batch_dir(folder);
  CM_REQUIRE(!dir.empty(), folder, ": no CIFAR-10 batch files (data_batch_1.bin, test_batch.bin)");
  Dataset d = empty_cifar(read_text_if_exists(fs::path(dir) / kMetaName));
  for (const std::string& name : cifar_batch_names(split)) {
    const fs::path path = fs::path(dir) / name;
    CM_REQUIRE(fs::is_regular_file(path), path.string(), ": missing CIFAR-10 batch file");
    append_cifar_batch(read_file_bytes(path.string()), path.string(), d);
  }
  return d;
}

Dataset read_cifar_archive(const std::string& path, const std::string& split) {
  const std::vector<std::string> wanted = cifar_batch_names(split);
  const auto is_wanted = [&](const std::string& entry) {
    const std::string base = fs::path(entry).filename().string();
    return base == kMetaName || std::find(wanted.begin(), wanted.end(), base) != wanted.end();
  };
  std::map<std::string, ArchiveEntry> by_name;  // base name -> entry
  for (ArchiveEntry& e : read_archive(path, is_wanted)) {
    const std::string base = fs::path(e.path).filename().string();
    CM_REQUIRE(!by_name.count(base), path, ": holds ", base, " twice");
    by_name[base] = std::move(e);
  }
  const auto meta = by_name.find(kMetaName);
  Dataset d = empty_cifar(
      meta == by_name.end() ? "" : std::string(meta->second.data.begin(), meta->second.data.end()));
  for (const std::string& name : wanted) {
    const auto it = by_name.find(name);
    CM_REQUIRE(it != by_name.end(), path, ": missing CIFAR-10 batch file ", name);
    append_cifar_batch(it->second.data, path + ":" + it->second.path, d);
  }
  return d;
}

}  // namespace clustermim
