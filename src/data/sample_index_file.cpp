/*
 * Sample-index cache files (see sample_index_file.h).
 */
#include "data/sample_index_file.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/fingerprint.h"
#include "io/file_util.h"

namespace clustermim {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[4] = {'C', 'M', 'S', 'I'};
constexpr size_t kHeaderBytes = 4 + 4 + 8;
constexpr size_t kSampleBytes = 4 + 8 + 8 + 4;

class Writer {
 public:
  template <typename T>
  void put(T value) {
    const size_t at = bytes.size();
    bytes.resize(at + sizeof(T));
    std::memcpy(bytes.data() + at, &value, sizeof(T));
  }
  void put(const std::string& s) {
    put<uint64_t>(s.size());
    bytes.insert(bytes.end(), s.begin(), s.end());
  }
  void put(const std::vector<std::string>& list) {
    put<uint64_t>(list.size());
    for (const std::string& s : list) put(s);
  }
  std::vector<uint8_t> bytes;
};

/// Bounds-checked reads; every failure is an Error naming the file.
class Reader {
 public:
  Reader(const std::vector<uint8_t>& bytes, size_t at, const std::string& path)
      : bytes_(bytes), at_(at), path_(path) {}
  template <typename T>
  T get() {
    need(sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return value;
  }
  std::string get_string() {
    const uint64_t size = get<uint64_t>();
    need(size);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), size);
    at_ += size;
    return s;
  }
  /// A count of items of at least `item_bytes` each that must fit in the rest of the file.
  uint64_t get_count(size_t item_bytes) {
    const uint64_t n = get<uint64_t>();
    CM_REQUIRE(n <= (bytes_.size() - at_) / item_bytes, path_, ": truncated or corrupt");
    return n;
  }
  std::vector<std::string> get_strings() {
    std::vector<std::string> list(get_count(8));
    for (std::string& s : list) s = get_string();
    return list;
  }
  bool at_end() const { return at_ == bytes_.size(); }

 private:
  void need(uint64_t n) const {
    CM_REQUIRE(n <= bytes_.size() - at_, path_, ": truncated or corrupt");
  }
  const std::vector<uint8_t>& bytes_;
  size_t at_;
  const std::string& path_;
};

uint64_t checksum(const uint8_t* data, size_t size) {
  Fingerprint fp;
  fp.add_bytes(data, size);
  return std::stoull(fp.hex(), nullptr, 16);
}

SampleIndex parse(const std::vector<uint8_t>& bytes, const std::string& path,
                  const std::string& key) {
  CM_REQUIRE(bytes.size() >= kHeaderBytes && std::memcmp(bytes.data(), kMagic, 4) == 0, path,
             ": not a sample-index file");
  Reader header(bytes, 4, path);
  const uint32_t version = header.get<uint32_t>();
  CM_REQUIRE(version == kSampleIndexVersion, path, ": version ", version, ", expected ",
             kSampleIndexVersion);
  CM_REQUIRE(
      header.get<uint64_t>() == checksum(bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes),
      path, ": checksum mismatch");
  Reader r(bytes, kHeaderBytes, path);
  SampleIndex index;
  index.key = r.get_string();
  CM_REQUIRE(index.key == key, path, ": written for other files (key ", index.key, ", expected ",
             key, ")");
  index.source = r.get_string();
  index.split = r.get_string();
  index.files = r.get_strings();
  index.classes = r.get_strings();
  index.samples.resize(r.get_count(kSampleBytes));
  for (SampleRef& s : index.samples) {
    s.file = r.get<int32_t>();
    s.offset = r.get<int64_t>();
    s.size = r.get<int64_t>();
    s.label = r.get<int32_t>();
    CM_REQUIRE(s.file >= 0 && s.file < static_cast<int64_t>(index.files.size()) && s.offset >= 0 &&
                   s.size >= 0 &&
                   (index.labeled() ? s.label >= 0 && s.label < int64_t(index.classes.size())
                                    : s.label == -1),
               path, ": sample out of range");
  }
  index.names = r.get_strings();
  CM_REQUIRE(index.names.size() == index.samples.size() && r.at_end(), path,
             ": inconsistent sample and name counts");
  return index;
}

}  // namespace

std::string sample_index_cache_path(const std::string& dir, const std::string& name,
                                    const std::string& split, const std::string& key) {
  return (fs::path(dir) / ("index-" + name + "-" + split + "-" + key + ".cmsi")).string();
}

std::optional<SampleIndex> load_sample_index(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return parse(read_file_bytes(path), path, key);
  } catch (const Error& e) {
    spdlog::warn("ignoring sample-index cache {}: {}", path, e.what());
    return std::nullopt;
  }
}

void save_sample_index(const std::string& path, const SampleIndex& index) {
  Writer w;
  w.put(index.key);
  w.put(index.source);
  w.put(index.split);
  w.put(index.files);
  w.put(index.classes);
  w.put<uint64_t>(index.samples.size());
  for (const SampleRef& s : index.samples) {
    w.put<int32_t>(s.file);
    w.put<int64_t>(s.offset);
    w.put<int64_t>(s.size);
    w.put<int32_t>(s.label);
  }
  w.put(index.names);
  Writer file;
  file.bytes.assign(kMagic, kMagic + 4);
  file.put<uint32_t>(kSampleIndexVersion);
  file.put<uint64_t>(checksum(w.bytes.data(), w.bytes.size()));
  file.bytes.insert(file.bytes.end(), w.bytes.begin(), w.bytes.end());
  write_file_atomic(path, file.bytes.data(), file.bytes.size());
}

}  // namespace clustermim
