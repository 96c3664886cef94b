/*
 * safetensors reader and writer (see safetensors.h for the layout and what is checked).
 *
 * The reader trusts nothing before it is checked against the bytes present: the header length
 * against the file, each entry's JSON types, shape, dtype and extent against the data buffer,
 * and that no two tensors overlap (so the tensors it allocates never add up to more than twice
 * the buffer, F16 -> F32 being the largest growth). Every nlohmann::json exception, invalid UTF-8
 * included, becomes a clustermim::Error naming the file.
 */
#include "io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

using nlohmann::json;

constexpr size_t kLengthBytes = 8;
constexpr uint64_t kMaxHeader = 100ull << 20;
constexpr char kMetadataKey[] = "__metadata__";
/// The element count limit of TensorRecord::numel(), so that it never throws on what we return.
constexpr int64_t kMaxNumel = int64_t{1} << 50;

/// How a stored dtype becomes a TensorRecord.
enum class Conversion { kNone, kHalfToFloat, kDoubleToFloat };

/// A stored dtype the reader accepts, and what it is read as.
struct StoredType {
  DType dtype = DType::F32;  ///< the record's dtype
  size_t itemsize = 4;       ///< bytes per stored element
  Conversion conversion = Conversion::kNone;
};

/// One header entry, already checked against the data buffer.
struct Entry {
  std::string name;
  StoredType type;
  std::vector<int64_t> shape;
  int64_t numel = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// `s` as a JSON string literal: quoted and escaped, so a message stays one line whatever the name.
std::string quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return value;
}

void put_u64_le(std::vector<uint8_t>& out, uint64_t value) {
  for (size_t i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

/// IEEE 754 binary16 -> binary32; exact for every input (normals, subnormals, +-0, +-inf, NaN).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exactly representable in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  const uint32_t bits = exponent == 0x1f
                            ? sign | 0x7f800000u | (mantissa << 13)  // inf, or NaN keeping payload
                            : sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// Little-endian F16 elements as F32 bytes.
std::vector<uint8_t> halves_to_f32(const uint8_t* src, size_t numel) {
  std::vector<uint8_t> out(numel * sizeof(float));
  for (size_t i = 0; i < numel; ++i) {
    const float f = half_to_float(static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8)));
    std::memcpy(out.data() + i * sizeof(float), &f, sizeof f);
  }
  return out;
}

/// Little-endian F64 elements as F32 bytes (IEEE rounding; out-of-range values become +-inf).
std::vector<uint8_t> doubles_to_f32(const uint8_t* src, size_t numel) {
  std::vector<uint8_t> out(numel * sizeof(float));
  for (size_t i = 0; i < numel; ++i) {
    const uint64_t bits = read_u64_le(src + 8 * i);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    const float f = static_cast<float>(d);
    std::memcpy(out.data() + i * sizeof(float), &f, sizeof f);
  }
  return out;
}

StoredType stored_type(const std::string& dtype, const std::string& path,
                       const std::string& name) {
  for (DType d : {DType::F32, DType::BF16, DType::I64, DType::I32, DType::U8}) {
    if (dtype == dtype_name(d)) return {d, dtype_size(d), Conversion::kNone};
  }
  if (dtype == "F16") return {DType::F32, 2, Conversion::kHalfToFloat};
  if (dtype == "F64") return {DType::F32, 8, Conversion::kDoubleToFloat};
  fail(path, ": tensor ", quoted(name), " has unsupported dtype ", quoted(dtype),
       " (supported: F32, F16, BF16, F64, I64, I32, U8)");
}

/// numel(shape) with every dimension non-negative and the product at most kMaxNumel.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path,
                      const std::string& name) {
  int64_t n = 1;
  for (int64_t d : shape) {
    CM_REQUIRE(d >= 0, path, ": tensor ", quoted(name), " has a negative dimension in shape ",
               shape_str(shape));
    CM_REQUIRE(d == 0 || n <= kMaxNumel / d, path, ": tensor ", quoted(name), " shape ",
               shape_str(shape), " has too many elements");
    n *= d;
  }
  return n;
}

/// The member `key` of a tensor entry (an object); an Error when it is missing.
const json& field(const json& entry, const char* key, const std::string& path,
                  const std::string& name) {
  const auto it = entry.find(key);
  CM_REQUIRE(it != entry.end(), path, ": tensor ", quoted(name), " has no \"", key, "\"");
  return *it;
}

int64_t parse_dim(const json& d, const std::string& path, const std::string& name) {
  CM_REQUIRE(d.is_number_integer(), path, ": tensor ", quoted(name),
             " has a \"shape\" entry that is not an integer");
  if (!d.is_number_unsigned()) return d.get<int64_t>();  // negative: checked_numel reports it
  CM_REQUIRE(d.get<uint64_t>() <= static_cast<uint64_t>(kMaxNumel), path, ": tensor ",
             quoted(name), " has a dimension of ", d.get<uint64_t>(), ", too large");
  return static_cast<int64_t>(d.get<uint64_t>());
}

std::vector<int64_t> parse_shape(const json& j, const std::string& path, const std::string& name) {
  CM_REQUIRE(j.is_array(), path, ": tensor ", quoted(name), " has a \"shape\" that is not a list");
  std::vector<int64_t> shape;
  for (const json& d : j) shape.push_back(parse_dim(d, path, name));
  return shape;
}

std::pair<uint64_t, uint64_t> parse_offsets(const json& j, const std::string& path,
                                            const std::string& name) {
  CM_REQUIRE(j.is_array() && j.size() == 2 && j[0].is_number_unsigned() &&
                 j[1].is_number_unsigned(),
             path, ": tensor ", quoted(name),
             " needs \"data_offsets\" of two non-negative integers [begin, end]");
  return {j[0].get<uint64_t>(), j[1].get<uint64_t>()};
}

/// Parses and checks one tensor entry against a data buffer of `buffer_size` bytes.
Entry parse_entry(const std::string& name, const json& j, uint64_t buffer_size,
                  const std::string& path) {
  CM_REQUIRE(j.is_object(), path, ": tensor ", quoted(name), " is not a JSON object");
  const json& dtype = field(j, "dtype", path, name);
  CM_REQUIRE(dtype.is_string(), path, ": tensor ", quoted(name), " has a non-string \"dtype\"");
  Entry e;
  e.name = name;
  e.type = stored_type(dtype.get<std::string>(), path, name);
  e.shape = parse_shape(field(j, "shape", path, name), path, name);
  e.numel = checked_numel(e.shape, path, name);
  std::tie(e.begin, e.end) = parse_offsets(field(j, "data_offsets", path, name), path, name);
  CM_REQUIRE(e.begin <= e.end, path, ": tensor ", quoted(name), " has data_offsets [", e.begin,
             ", ", e.end, "] that end before they begin");
  CM_REQUIRE(e.end <= buffer_size, path, ": tensor ", quoted(name), " ends at data offset ",
             e.end, " but the data buffer holds ", buffer_size, " bytes (truncated?)");
  const uint64_t needed = static_cast<uint64_t>(e.numel) * e.type.itemsize;
  CM_REQUIRE(e.end - e.begin == needed, path, ": tensor ", quoted(name), " has ",
             e.end - e.begin, " bytes but shape ", shape_str(e.shape), " of ",
             dtype.get<std::string>(), " needs ", needed);
  return e;
}

std::map<std::string, std::string> parse_metadata(const json& j, const std::string& path) {
  CM_REQUIRE(j.is_object(), path, ": \"", kMetadataKey, "\" is not a JSON object");
  std::map<std::string, std::string> metadata;
  for (auto it = j.begin(); it != j.end(); ++it) {
    CM_REQUIRE(it.value().is_string(), path, ": metadata ", quoted(it.key()),
               " is not a string");
    metadata[it.key()] = it.value().get<std::string>();
  }
  return metadata;
}

json parse_header(const uint8_t* begin, const uint8_t* end, const std::string& path) {
  json header;
  try {
    header = json::parse(begin, end);
  } catch (const json::exception& e) {
    fail(path, ": header is not valid JSON (", e.what(), ")");
  }
  CM_REQUIRE(header.is_object(), path, ": header is not a JSON object");
  return header;
}

/// Non-empty tensors, sorted by offset, must not overlap (an empty tensor overlaps nothing, and
/// may share its offset with the tensor that follows it in the file).
void require_disjoint(const std::vector<Entry>& sorted, const std::string& path) {
  const Entry* previous = nullptr;  // the last non-empty tensor
  for (const Entry& e : sorted) {
    if (e.begin == e.end) continue;
    CM_REQUIRE(previous == nullptr || e.begin >= previous->end, path, ": tensors ",
               quoted(previous->name), " and ", quoted(e.name), " overlap in the data buffer");
    previous = &e;
  }
}

TensorRecord to_record(const Entry& e, const uint8_t* buffer) {
  TensorRecord rec;
  rec.name = e.name;
  rec.dtype = e.type.dtype;
  rec.shape = e.shape;
  const uint8_t* src = buffer + e.begin;
  const size_t numel = static_cast<size_t>(e.numel);
  switch (e.type.conversion) {
    case Conversion::kNone: rec.data.assign(src, src + (e.end - e.begin)); break;
    case Conversion::kHalfToFloat: rec.data = halves_to_f32(src, numel); break;
    case Conversion::kDoubleToFloat: rec.data = doubles_to_f32(src, numel); break;
  }
  return rec;
}

SafetensorsFile decode_checked(const uint8_t* bytes, size_t size, const std::string& path) {
  CM_REQUIRE(size >= kLengthBytes, path, ": too short to be a safetensors file (", size,
             " bytes; the header length alone takes 8)");
  const uint64_t header_len = read_u64_le(bytes);
  CM_REQUIRE(header_len <= kMaxHeader, path, ": header length ", header_len,
             " exceeds the 100 MiB limit (not a safetensors file?)");
  CM_REQUIRE(header_len <= size - kLengthBytes, path, ": header length ", header_len,
             " exceeds the ", size - kLengthBytes, " bytes after it (truncated?)");
  const uint8_t* buffer = bytes + kLengthBytes + header_len;
  const uint64_t buffer_size = size - kLengthBytes - header_len;
  const json header = parse_header(bytes + kLengthBytes, buffer, path);

  SafetensorsFile file;
  file.source = path;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      file.metadata = parse_metadata(it.value(), path);
    } else {
      entries.push_back(parse_entry(it.key(), it.value(), buffer_size, path));
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.name) < std::tie(b.begin, b.name);
  });
  require_disjoint(entries, path);
  for (const Entry& e : entries) file.tensors.push_back(to_record(e, buffer));
  return file;
}

std::string dump_header(const json& header, const std::string& label) {
  try {
    return header.dump();
  } catch (const json::exception& e) {
    fail(label, ": cannot write the header, tensor names and metadata must be UTF-8 (", e.what(),
         ")");
  }
}

/// The tensors sorted by name; an Error (prefixed with `label`) for duplicates, a reserved name or
/// data that does not match the shape.
std::vector<const TensorRecord*> sorted_checked(const std::vector<TensorRecord>& tensors,
                                                const std::string& label) {
  std::vector<const TensorRecord*> sorted;
  for (const TensorRecord& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorRecord* a, const TensorRecord* b) { return a->name < b->name; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorRecord& t = *sorted[i];
    CM_REQUIRE(i == 0 || sorted[i - 1]->name != t.name, label, ": duplicate tensor name ",
               quoted(t.name));
    CM_REQUIRE(t.name != kMetadataKey, label, ": \"", kMetadataKey,
               "\" is reserved and cannot name a tensor");
    const uint64_t needed =
        static_cast<uint64_t>(checked_numel(t.shape, label, t.name)) * dtype_size(t.dtype);
    CM_REQUIRE(t.data.size() == needed, label, ": tensor ", quoted(t.name), " has ",
               t.data.size(), " bytes but shape ", shape_str(t.shape), " of ",
               dtype_name(t.dtype), " needs ", needed);
  }
  return sorted;
}

/// encode_safetensors with errors prefixed by `label` (the path when saving).
std::vector<uint8_t> encode_labeled(const std::vector<TensorRecord>& tensors,
                                    const std::map<std::string, std::string>& metadata,
                                    const std::string& label) {
  const std::vector<const TensorRecord*> sorted = sorted_checked(tensors, label);
  json header = json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const TensorRecord* t : sorted) {
    header[t->name] = {{"dtype", dtype_name(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", json::array({offset, offset + t->data.size()})}};
    offset += t->data.size();
  }
  std::string text = dump_header(header, label);
  text.append((8 - text.size() % 8) % 8, ' ');  // as the Python library pads it
  CM_REQUIRE(text.size() <= kMaxHeader, label, ": header of ", text.size(),
             " bytes exceeds the 100 MiB limit (too many tensors)");

  std::vector<uint8_t> out;
  out.reserve(kLengthBytes + text.size() + offset);
  put_u64_le(out, text.size());
  out.insert(out.end(), text.begin(), text.end());
  for (const TensorRecord* t : sorted) out.insert(out.end(), t->data.begin(), t->data.end());
  return out;
}

}  // namespace

const TensorRecord& SafetensorsFile::get(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return t;
  }
  fail(source.empty() ? std::string("safetensors file") : source, ": missing tensor ",
       quoted(name));
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const TensorRecord& t) { return t.name == name; });
}

SafetensorsFile decode_safetensors(const uint8_t* bytes, size_t size, const std::string& path) {
  try {
    return decode_checked(bytes, size, path);
  } catch (const json::exception& e) {  // defensive: the checks above should leave none
    fail(path, ": malformed header (", e.what(), ")");
  }
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_safetensors(const std::vector<TensorRecord>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  return encode_labeled(tensors, metadata, "safetensors");
}

void save_safetensors(const std::string& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = encode_labeled(tensors, metadata, path);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace clustermim
