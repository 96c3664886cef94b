/*
 * Self-describing tensor container (see tensor_file.h for the layout).
 */
#include "io/tensor_file.h"

#include <zlib.h>

#include <cstring>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kPreamble = 4 + 4 + 8;
constexpr uint64_t kMaxHeader = 64ull << 20;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

DType parse_dtype(const std::string& s, const std::string& path) {
  for (DType d : {DType::F32, DType::BF16, DType::I64, DType::I32, DType::U8, DType::F16}) {
    if (s == dtype_name(d)) return d;
  }
  fail(path, ": unknown tensor dtype '", s, "'");
}

template <typename T>
void put_le(std::vector<uint8_t>& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

template <typename T>
T get_le(const uint8_t* p) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(p[i]) << (8 * i);
  return value;
}

uint32_t crc32_of(const uint8_t* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path) {
  int64_t n = 1;
  for (int64_t d : shape) {
    CM_REQUIRE(d >= 0 && (d == 0 || n <= (int64_t{1} << 50) / d), path, ": bad tensor shape");
    n *= d;
  }
  return n;
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::U8: return "U8";
    case DType::F16: return "F16";
  }
  return "?";
}

int64_t TensorRecord::numel() const { return checked_numel(shape, name); }

void TensorFile::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                     const void* src) {
  TensorRecord rec;
  rec.name = name;
  rec.dtype = dtype;
  rec.shape = std::move(shape);
  const size_t nbytes = static_cast<size_t>(rec.numel()) * dtype_size(dtype);
  rec.data.resize(nbytes);
  if (nbytes > 0) std::memcpy(rec.data.data(), src, nbytes);
  tensors.push_back(std::move(rec));
}

const TensorRecord& TensorFile::get(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  fail(source.empty() ? std::string("tensor file") : source, ": missing tensor '", name, "'");
}

std::vector<uint8_t> encode_tensor_file(const TensorFile& file) {
  CM_CHECK(file.magic.size() == 4, "magic must be 4 characters");
  nlohmann::json table = nlohmann::json::array();
  size_t offset = 0;
  for (const auto& t : file.tensors) {
    table.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape},
                     {"offset", offset}, {"nbytes", t.data.size()}});
    offset = align_up(offset + t.data.size());
  }
  const std::string header = nlohmann::json{{"meta", file.meta}, {"tensors", table}}.dump();
  const size_t data_start = align_up(kPreamble + header.size());

  std::vector<uint8_t> out;
  out.reserve(data_start + offset + 4);
  out.insert(out.end(), file.magic.begin(), file.magic.end());
  put_le<uint32_t>(out, kTensorFileVersion);
  put_le<uint64_t>(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.resize(data_start, 0);
  for (const auto& t : file.tensors) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(align_up(out.size() - data_start) + data_start, 0);
  }
  put_le<uint32_t>(out, crc32_of(out.data(), out.size()));
  return out;
}

TensorFile decode_tensor_file(const uint8_t* bytes, size_t size, const std::string& path,
                              const std::string& expected_magic) {
  CM_REQUIRE(size >= kPreamble + 4, path, ": too short to be a clustermim file (", size,
             " bytes)");
  const std::string magic(reinterpret_cast<const char*>(bytes), 4);
  CM_REQUIRE(expected_magic.empty() || magic == expected_magic, path, ": wrong file kind (magic '",
             magic, "', expected '", expected_magic, "')");
  const uint32_t version = get_le<uint32_t>(bytes + 4);
  CM_REQUIRE(version == kTensorFileVersion, path, ": unsupported container version ", version,
             " (this build reads ", kTensorFileVersion, ")");
  const uint64_t header_len = get_le<uint64_t>(bytes + 8);
  CM_REQUIRE(header_len <= kMaxHeader && kPreamble + header_len + 4 <= size, path,
             ": header length ", header_len, " exceeds the file (truncated?)");
  const uint32_t stored_crc = get_le<uint32_t>(bytes + size - 4);
  CM_REQUIRE(stored_crc == crc32_of(bytes, size - 4), path,
             ": checksum mismatch (file is truncated or corrupt)");

  TensorFile file;
  file.magic = magic;
  file.source = path;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + kPreamble, bytes + kPreamble + header_len);
    file.meta = header.at("meta");
    const size_t data_start = align_up(kPreamble + header_len);
    CM_REQUIRE(data_start <= size - 4, path, ": data section missing");
    const size_t data_size = size - 4 - data_start;
    for (const auto& entry : header.at("tensors")) {
      TensorRecord rec;
      rec.name = entry.at("name").get<std::string>();
      rec.dtype = parse_dtype(entry.at("dtype").get<std::string>(), path);
      rec.shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offset = entry.at("offset").get<uint64_t>();
      const auto nbytes = entry.at("nbytes").get<uint64_t>();
      const int64_t numel = checked_numel(rec.shape, path);
      CM_REQUIRE(nbytes == static_cast<uint64_t>(numel) * dtype_size(rec.dtype), path,
                 ": tensor '", rec.name, "' size does not match its shape");
      CM_REQUIRE(offset <= data_size && nbytes <= data_size - offset, path, ": tensor '",
                 rec.name, "' lies outside the file");
      rec.data.assign(bytes + data_start + offset, bytes + data_start + offset + nbytes);
      file.tensors.push_back(std::move(rec));
    }
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": malformed header (", e.what(), ")");
  }
  return file;
}

void save_tensor_file(const std::string& path, const TensorFile& file) {
  const std::vector<uint8_t> bytes = encode_tensor_file(file);
  write_file_atomic(path, bytes.data(), bytes.size());
}

TensorFile load_tensor_file(const std::string& path, const std::string& expected_magic) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_tensor_file(bytes.data(), bytes.size(), path, expected_magic);
}

}  // namespace clustermim
