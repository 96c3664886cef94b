/*
 * .npy / .npz reader and writer (see npy.h for the layout and what is accepted).
 *
 * The .npy header is a Python dict literal; a small parser reads exactly what NumPy writes
 * (strings in either quote, True/False, tuples of integers) and rejects the rest. The shape is
 * checked for overflow and against the data bytes present before the data is copied. .npz
 * members are read through libarchive's zip reader from memory, and the total they inflate to is
 * capped (deflate cannot exceed about 1032:1), so a crafted archive cannot exhaust memory. The
 * .npz writer lays out a plain zip of stored members itself (CRC-32 from zlib).
 */
#include "io/npy.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
/// The element count limit, so that numel * itemsize never overflows.
constexpr int64_t kMaxNumel = int64_t{1} << 50;
/// Inflated .npz bytes allowed per input byte (deflate's ratio is at most about 1032:1).
constexpr uint64_t kMaxInflation = 1100;

struct TypeInfo {
  NpyDType dtype;
  char kind;  // 'b', 'u' or 'i'
  size_t itemsize;
  const char* descr;
};

constexpr TypeInfo kTypes[] = {
    {NpyDType::Bool, 'b', 1, "|b1"}, {NpyDType::U8, 'u', 1, "|u1"},
    {NpyDType::I8, 'i', 1, "|i1"},   {NpyDType::U16, 'u', 2, "<u2"},
    {NpyDType::I16, 'i', 2, "<i2"},  {NpyDType::U32, 'u', 4, "<u4"},
    {NpyDType::I32, 'i', 4, "<i4"},  {NpyDType::U64, 'u', 8, "<u8"},
    {NpyDType::I64, 'i', 8, "<i8"},
};
constexpr char kAccepted[] = "|b1 |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8";

const TypeInfo& info(NpyDType dtype) {
  for (const TypeInfo& t : kTypes) {
    if (t.dtype == dtype) return t;
  }
  fail("npy: unknown dtype");
}

/// `s` as a JSON string literal: quoted and escaped, so a message stays one line.
std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

uint64_t read_le(const uint8_t* p, size_t n) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return value;
}

void put_le(std::vector<uint8_t>& out, uint64_t value, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

/// The type a descr names and whether it is big-endian; an Error for anything but integers.
std::pair<NpyDType, bool> parse_descr(const std::string& descr, const std::string& path) {
  const std::string rest = descr.empty() ? "" : descr.substr(1);
  const char order = descr.empty() ? '?' : descr[0];
  if (!rest.empty() && (rest[0] == 'f' || rest[0] == 'c' || rest[0] == 'e')) {
    fail(path, ": dtype ", quoted(descr), " is floating point; only integer arrays (", kAccepted,
         ") are read");
  }
  for (const TypeInfo& t : kTypes) {
    if (rest != std::string(t.descr + 1)) continue;
    if (t.itemsize == 1 && (order == '|' || order == '<' || order == '>')) return {t.dtype, false};
    if (t.itemsize > 1 && (order == '<' || order == '>')) return {t.dtype, order == '>'};
  }
  fail(path, ": unsupported dtype ", quoted(descr), " (integer arrays only: ", kAccepted, ")");
}

/// The fields of a .npy header dict.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

/// Reads NumPy's header dict literal; anything else is an Error naming the file.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  Header parse() {
    Header h;
    std::set<std::string> seen;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      CM_REQUIRE(seen.insert(key).second, path_, ": header repeats the key ", quoted(key));
      expect(':');
      skip_space();
      if (key == "descr") {
        CM_REQUIRE(peek() == '\'' || peek() == '"', path_,
                   ": structured dtypes are not supported (descr is not a string)");
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
      } else if (key == "shape") {
        h.shape = shape_tuple();
      } else {
        fail(path_, ": header has an unknown key ", quoted(key));
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      CM_REQUIRE(peek() == '}', path_, ": header is not a dict literal (at byte ", pos_, ")");
    }
    ++pos_;
    skip_space();
    CM_REQUIRE(pos_ == s_.size(), path_, ": header has bytes after its dict");
    for (const char* key : {"descr", "fortran_order", "shape"}) {
      CM_REQUIRE(seen.count(key), path_, ": header has no '", key, "'");
    }
    return h;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }

  void expect(char c) {
    skip_space();
    CM_REQUIRE(peek() == c, path_, ": header is not a dict literal (expected '", c,
               "' at byte ", pos_, ")");
    ++pos_;
  }

  std::string string_literal() {
    const char q = peek();
    CM_REQUIRE(q == '\'' || q == '"', path_, ": header key or descr is not a string (at byte ",
               pos_, ")");
    const size_t end = s_.find(q, pos_ + 1);
    CM_REQUIRE(end != std::string::npos, path_, ": header has an unterminated string");
    std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
    CM_REQUIRE(out.find('\\') == std::string::npos, path_, ": header string ", quoted(out),
               " has an escape");
    pos_ = end + 1;
    return out;
  }

  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    CM_REQUIRE(s_.compare(pos_, 5, "False") == 0, path_,
               ": header fortran_order is not True or False");
    pos_ += 5;
    return false;
  }

  int64_t dimension() {
    CM_REQUIRE(std::isdigit(static_cast<unsigned char>(peek())), path_,
               ": header shape holds something other than non-negative integers");
    int64_t d = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      d = d * 10 + (s_[pos_++] - '0');
      CM_REQUIRE(d <= kMaxNumel, path_, ": header shape has a dimension above 2^50");
    }
    if (peek() == 'L') ++pos_;  // Python 2 long literals, as NumPy on Python 2 wrote them
    return d;
  }

  std::vector<int64_t> shape_tuple() {
    CM_REQUIRE(peek() == '(', path_, ": header shape is not a tuple");
    ++pos_;
    std::vector<int64_t> shape;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      shape.push_back(dimension());
      CM_REQUIRE(shape.size() <= 32, path_, ": header shape has more than 32 dimensions");
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      CM_REQUIRE(peek() == ')', path_, ": header shape is not a tuple of integers");
    }
    ++pos_;
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

/// numel(shape), checked against kMaxNumel.
int64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path) {
  int64_t n = 1;
  for (int64_t d : shape) {
    CM_REQUIRE(d == 0 || n <= kMaxNumel / d, path, ": shape ", shape_str(shape),
               " has too many elements");
    n *= d;
  }
  return n;
}

std::string one_line(const char* text) {
  std::string s = text ? text : "unknown error";
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string header_text(const NpyArray& array) {
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i) {
    shape += (i ? ", " : "") + std::to_string(array.shape[i]);
  }
  shape += array.shape.size() == 1 ? ",)" : ")";
  return std::string("{'descr': '") + npy_descr(array.dtype) +
         "', 'fortran_order': False, 'shape': " + shape + ", }";
}

}  // namespace

size_t npy_itemsize(NpyDType dtype) { return info(dtype).itemsize; }

const char* npy_descr(NpyDType dtype) { return info(dtype).descr; }

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t NpyArray::value(int64_t i) const {
  const TypeInfo& t = info(dtype);
  const uint64_t raw = read_le(data.data() + static_cast<size_t>(i) * t.itemsize, t.itemsize);
  if (t.kind == 'b') return raw != 0;
  if (t.kind == 'u') {
    return raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? std::numeric_limits<int64_t>::max()
               : static_cast<int64_t>(raw);
  }
  const unsigned bits = static_cast<unsigned>(8 * t.itemsize);
  if (bits == 64) return static_cast<int64_t>(raw);
  const uint64_t sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>(raw ^ sign) - static_cast<int64_t>(sign);
}

NpyArray make_npy_int32(const std::string& name, std::vector<int64_t> shape,
                        const std::vector<int32_t>& values) {
  NpyArray a;
  a.name = name;
  a.dtype = NpyDType::I32;
  a.shape = std::move(shape);
  CM_REQUIRE(a.numel() == static_cast<int64_t>(values.size()), "npy: ", values.size(),
             " values do not fill shape ", shape_str(a.shape));
  a.data.reserve(values.size() * 4);
  for (int32_t v : values) put_le(a.data, static_cast<uint32_t>(v), 4);
  return a;
}

NpyArray decode_npy(const uint8_t* bytes, size_t size, const std::string& path) {
  CM_REQUIRE(size >= kMagicBytes + 4, path, ": too short for a .npy file (", size, " bytes)");
  CM_REQUIRE(std::memcmp(bytes, kMagic, kMagicBytes) == 0, path,
             ": not a .npy file (no \\x93NUMPY magic)");
  const int major = bytes[6];
  const int minor = bytes[7];
  CM_REQUIRE((major == 1 || major == 2 || major == 3) && minor == 0, path,
             ": unsupported .npy format version ", major, ".", minor, " (1.0, 2.0 and 3.0 are read)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t prefix = kMagicBytes + 2 + length_bytes;
  CM_REQUIRE(size >= prefix, path, ": too short for a .npy ", major, ".0 header");
  const uint64_t header_len = read_le(bytes + kMagicBytes + 2, length_bytes);
  CM_REQUIRE(header_len <= size - prefix, path, ": header length ", header_len,
             " runs past the end of the file (", size, " bytes)");
  const std::string text(reinterpret_cast<const char*>(bytes + prefix), header_len);
  const Header h = HeaderParser(text, path).parse();
  const auto [dtype, big_endian] = parse_descr(h.descr, path);
  CM_REQUIRE(!h.fortran_order, path,
             ": array is in Fortran order; save it in C order (np.ascontiguousarray)");

  NpyArray a;
  a.dtype = dtype;
  a.shape = h.shape;
  const int64_t numel = checked_numel(h.shape, path);
  const size_t itemsize = npy_itemsize(dtype);
  const size_t present = size - prefix - header_len;
  CM_REQUIRE(static_cast<uint64_t>(numel) * itemsize == present, path, ": shape ",
             shape_str(h.shape), " of ", h.descr, " needs ", static_cast<uint64_t>(numel) * itemsize,
             " data bytes, the file holds ", present);
  const uint8_t* data = bytes + prefix + header_len;
  a.data.assign(data, data + present);
  if (big_endian) {
    for (size_t i = 0; i < a.data.size(); i += itemsize) {
      std::reverse(a.data.begin() + i, a.data.begin() + i + itemsize);
    }
  }
  return a;
}

NpyArray load_npy(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_npy(bytes.data(), bytes.size(), path);
}

std::vector<NpyArray> decode_npz(const uint8_t* bytes, size_t size, const std::string& path) {
  using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
  ArchivePtr a(archive_read_new(), &archive_read_free);
  CM_CHECK(a != nullptr);
  archive_read_support_format_zip(a.get());
  CM_REQUIRE(size > 0, path, ": empty file, not an .npz (zip) archive");
  if (archive_read_open_memory(a.get(), bytes, size) != ARCHIVE_OK) {
    fail(path, ": not an .npz (zip) archive (", one_line(archive_error_string(a.get())), ")");
  }
  const uint64_t budget = kMaxInflation * static_cast<uint64_t>(size) + (1 << 20);
  uint64_t inflated = 0;
  std::vector<NpyArray> arrays;
  std::set<std::string> names;
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    CM_REQUIRE(r == ARCHIVE_OK || r == ARCHIVE_WARN, path, ": corrupt .npz (",
               one_line(archive_error_string(a.get())), ")");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const char* raw_name = archive_entry_pathname(entry);
    const std::string member = raw_name ? raw_name : "";
    if (member.size() < 4 || member.compare(member.size() - 4, 4, ".npy") != 0) continue;
    const std::string name = member.substr(0, member.size() - 4);
    CM_REQUIRE(names.insert(name).second, path, ": member ", quoted(member), " appears twice");

    std::vector<uint8_t> data;  // grown as read: a declared size is not trusted
    uint8_t chunk[1 << 16];
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), chunk, sizeof(chunk));
      CM_REQUIRE(n >= 0, path, ": cannot read member ", quoted(member), " (",
                 one_line(archive_error_string(a.get())), ")");
      if (n == 0) break;
      inflated += static_cast<uint64_t>(n);
      CM_REQUIRE(inflated <= budget, path, ": inflates to more than ", kMaxInflation,
                 " times its size (not what np.savez writes)");
      data.insert(data.end(), chunk, chunk + n);
    }
    NpyArray array = decode_npy(data.data(), data.size(), path + " member " + member);
    array.name = name;
    arrays.push_back(std::move(array));
  }
  return arrays;
}

std::vector<NpyArray> load_npz(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_npz(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_npy(const NpyArray& array) {
  CM_REQUIRE(array.data.size() == static_cast<size_t>(array.numel()) * npy_itemsize(array.dtype),
             "npy: array ", quoted(array.name), " holds ", array.data.size(),
             " bytes, its shape needs ", array.numel() * npy_itemsize(array.dtype));
  std::string header = header_text(array);
  const bool v1 = header.size() + 11 + 64 <= 0xffff;
  const size_t prefix = kMagicBytes + 2 + (v1 ? 2 : 4);
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header.push_back('\n');
  std::vector<uint8_t> out(kMagic, kMagic + kMagicBytes);
  out.push_back(v1 ? 1 : 2);
  out.push_back(0);
  put_le(out, header.size(), v1 ? 2 : 4);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), array.data.begin(), array.data.end());
  return out;
}

std::vector<uint8_t> encode_npz(const std::vector<NpyArray>& arrays) {
  constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, the zip epoch
  constexpr uint32_t kMaxZip = 0xffffffffu;
  std::vector<uint8_t> out;
  std::vector<uint8_t> directory;
  std::set<std::string> names;
  for (const NpyArray& array : arrays) {
    CM_REQUIRE(!array.name.empty(), "npz: every member needs a name");
    CM_REQUIRE(names.insert(array.name).second, "npz: member ", quoted(array.name), " twice");
    const std::string member = array.name + ".npy";
    const std::vector<uint8_t> data = encode_npy(array);
    CM_REQUIRE(data.size() < kMaxZip && out.size() < kMaxZip, "npz: member ", quoted(member),
               " does not fit a zip without zip64 (4 GiB)");
    const uint32_t crc = static_cast<uint32_t>(
        crc32_z(crc32_z(0, Z_NULL, 0), data.data(), data.size()));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    auto common = [&](std::vector<uint8_t>& v) {  // version needed .. extra length
      put_le(v, 20, 2);  // version needed to extract: 2.0
      put_le(v, 0, 2);   // flags
      put_le(v, 0, 2);   // method: stored
      put_le(v, 0, 2);   // time
      put_le(v, kDosDate, 2);
      put_le(v, crc, 4);
      put_le(v, data.size(), 4);
      put_le(v, data.size(), 4);
      put_le(v, member.size(), 2);
      put_le(v, 0, 2);  // extra field length
    };
    put_le(out, 0x04034b50, 4);
    common(out);
    out.insert(out.end(), member.begin(), member.end());
    out.insert(out.end(), data.begin(), data.end());

    put_le(directory, 0x02014b50, 4);
    put_le(directory, (3 << 8) | 20, 2);  // made by: Unix, zip 2.0
    common(directory);
    put_le(directory, 0, 2);                   // comment length
    put_le(directory, 0, 2);                   // disk number
    put_le(directory, 0, 2);                   // internal attributes
    put_le(directory, 0100644u << 16, 4);      // external: a regular file, rw-r--r--
    put_le(directory, offset, 4);
    directory.insert(directory.end(), member.begin(), member.end());
  }
  CM_REQUIRE(arrays.size() < 0xffff && out.size() + directory.size() < kMaxZip,
             "npz: too large for a zip without zip64 (4 GiB)");
  const uint32_t directory_offset = static_cast<uint32_t>(out.size());
  out.insert(out.end(), directory.begin(), directory.end());
  put_le(out, 0x06054b50, 4);
  put_le(out, 0, 2);  // this disk
  put_le(out, 0, 2);  // disk of the directory
  put_le(out, arrays.size(), 2);
  put_le(out, arrays.size(), 2);
  put_le(out, directory.size(), 4);
  put_le(out, directory_offset, 4);
  put_le(out, 0, 2);  // comment length
  return out;
}

void save_npy(const std::string& path, const NpyArray& array) {
  const std::vector<uint8_t> bytes = encode_npy(array);
  write_file_atomic(path, bytes.data(), bytes.size());
}

void save_npz(const std::string& path, const std::vector<NpyArray>& arrays) {
  const std::vector<uint8_t> bytes = encode_npz(arrays);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace clustermim
