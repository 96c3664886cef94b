/*
 * Tar member listing and ustar writing (see tar_index.h).
 *
 * Header fields (POSIX ustar): name [0,100), size [124,136) octal or base-256, checksum
 * [148,156), type flag 156, magic "ustar" at 257, prefix [345,500). Regular files are types '0',
 * '\0' and '7'; 'L' (GNU long name) and 'x' (pax: path=, size=) describe the next member; other
 * types (folders, links, pax globals) are skipped with their data.
 */
#include "data/tar_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace clustermim {

namespace {

constexpr int64_t kBlock = 512;
/// Longest GNU long name or pax record block accepted (real ones are a few hundred bytes).
constexpr int64_t kMaxExtension = 1 << 20;

int64_t padded(int64_t size) { return (size + kBlock - 1) / kBlock * kBlock; }

std::string field(const uint8_t* header, int begin, int length) {
  const char* p = reinterpret_cast<const char*>(header + begin);
  return std::string(p, strnlen(p, static_cast<size_t>(length)));
}

bool all_zero(const uint8_t* block) {
  return std::all_of(block, block + kBlock, [](uint8_t b) { return b == 0; });
}

/// The size field: octal digits (leading spaces, ended by NUL or space) or GNU base-256.
int64_t parse_size(const uint8_t* header, const std::string& where, int64_t at) {
  const uint8_t* p = header + 124;
  uint64_t value = 0;
  if (p[0] & 0x80) {
    CM_REQUIRE(p[0] == 0x80 && p[1] == 0 && p[2] == 0 && p[3] == 0, where,
               ": member size out of range in the header at byte ", at);
    for (int i = 4; i < 12; ++i) value = value << 8 | p[i];
  } else {
    int i = 0;
    while (i < 12 && p[i] == ' ') ++i;
    for (; i < 12 && p[i] != 0 && p[i] != ' '; ++i) {
      CM_REQUIRE(p[i] >= '0' && p[i] <= '7', where, ": bad size field in the header at byte ", at);
      value = value * 8 + (p[i] - '0');
    }
  }
  CM_REQUIRE(value < (uint64_t{1} << 62), where,
             ": member size out of range in the header at byte ", at);
  return static_cast<int64_t>(value);
}

bool checksum_ok(const uint8_t* header) {
  uint64_t stored = 0;
  bool digits = false;
  for (int i = 148; i < 156; ++i) {
    if (header[i] >= '0' && header[i] <= '7') {
      stored = stored * 8 + (header[i] - '0');
      digits = true;
    } else if (digits || (header[i] != ' ' && header[i] != 0)) {
      break;
    }
  }
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (int i = 0; i < kBlock; ++i) {
    const bool in_field = i >= 148 && i < 156;
    unsigned_sum += in_field ? ' ' : header[i];
    signed_sum += in_field ? ' ' : static_cast<int8_t>(header[i]);
  }
  return digits && (static_cast<int64_t>(stored) == unsigned_sum ||
                    static_cast<int64_t>(stored) == signed_sum);
}

std::string normalise(std::string name) {
  while (name.rfind("./", 0) == 0) name.erase(0, 2);
  return name;
}

/// Applies the records "LEN key=value\n" of a pax extended header to the next member's name and
/// size.
void parse_pax(const std::string& data, std::string& path, int64_t& size,
               const std::string& where) {
  size_t pos = 0;
  while (pos < data.size() && data[pos] != 0) {
    size_t length = 0, i = pos;
    for (; i < data.size() && data[i] >= '0' && data[i] <= '9' && length < data.size(); ++i) {
      length = length * 10 + static_cast<size_t>(data[i] - '0');
    }
    CM_REQUIRE(i < data.size() && data[i] == ' ' && length > i - pos + 1 &&
                   length <= data.size() - pos && data[pos + length - 1] == '\n',
               where, ": malformed pax header record");
    const std::string record = data.substr(i + 1, pos + length - 1 - (i + 1));
    const size_t eq = record.find('=');
    CM_REQUIRE(eq != std::string::npos, where, ": malformed pax header record");
    const std::string key = record.substr(0, eq), value = record.substr(eq + 1);
    if (key == "path") path = value;
    if (key == "size") {
      CM_REQUIRE(
          !value.empty() && value.size() < 19 &&
              std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }),
          where, ": malformed pax size record");
      size = std::stoll(value);
    }
    pos += length;
  }
}

}  // namespace

std::vector<TarMember> list_tar_members(const ReadAt& read, int64_t file_size,
                                        const std::string& where) {
  std::vector<TarMember> members;
  std::string next_name;   // from a GNU 'L' or pax 'x' header
  int64_t next_size = -1;  // from a pax 'x' header
  uint8_t header[kBlock];
  for (int64_t at = 0; at < file_size;) {
    CM_REQUIRE(file_size - at >= kBlock, where, ": truncated tar header at byte ", at);
    read(at, kBlock, header);
    if (all_zero(header)) break;
    CM_REQUIRE(checksum_ok(header), where, ": corrupt tar header at byte ", at,
               " (bad checksum; not an uncompressed tar?)");
    int64_t size = parse_size(header, where, at);
    const char type = static_cast<char>(header[156]);
    if (type == 'x' || type == 'L') {  // these sizes are those of the extension data itself
      CM_REQUIRE(size <= kMaxExtension && size <= file_size - at - kBlock, where,
                 ": bad extension header at byte ", at);
      std::string data(static_cast<size_t>(size), '\0');
      read(at + kBlock, size, reinterpret_cast<uint8_t*>(data.data()));
      if (type == 'L') next_name = data.substr(0, strnlen(data.c_str(), data.size()));
      if (type == 'x') parse_pax(data, next_name, next_size, where);
      at += kBlock + padded(size);
      continue;
    }
    if (next_size >= 0) size = next_size;
    std::string name = next_name;
    if (name.empty()) {
      name = field(header, 0, 100);
      const std::string prefix = field(header, 345, 155);
      if (std::memcmp(header + 257, "ustar", 5) == 0 && !prefix.empty()) name = prefix + "/" + name;
    }
    next_name.clear();
    next_size = -1;
    const int64_t data_at = at + kBlock;
    CM_REQUIRE(size <= file_size - data_at, where, ": member ", name,
               " runs past the end of the archive (truncated?)");
    const bool regular = type == '0' || type == '\0' || type == '7';
    name = normalise(name);
    if (regular && !name.empty() && name.back() != '/') members.push_back({name, data_at, size});
    at = data_at + padded(size);
  }
  return members;
}

std::vector<TarMember> list_tar_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  CM_REQUIRE(fd >= 0, path, ": cannot open (", std::strerror(errno), ")");
  try {
    const off_t size = ::lseek(fd, 0, SEEK_END);
    CM_REQUIRE(size >= 0, path, ": cannot read its size (", std::strerror(errno), ")");
    std::vector<TarMember> members = list_tar_members(
        [&](int64_t offset, int64_t n, uint8_t* out) { read_exact_at(fd, offset, n, out, path); },
        size, path);
    ::close(fd);
    return members;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

void read_exact_at(int fd, int64_t offset, int64_t size, uint8_t* out, const std::string& where) {
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, static_cast<size_t>(size - done), offset + done);
    if (n < 0 && errno == EINTR) continue;
    CM_REQUIRE(n >= 0, where, ": read failed (", std::strerror(errno), ")");
    CM_REQUIRE(n > 0, where, ": file ends at byte ", offset + done, ", expected ", size,
               " bytes from byte ", offset);
    done += n;
  }
}

TarWriter::TarWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "wb");
  CM_REQUIRE(file_ != nullptr, path, ": cannot create (", std::strerror(errno), ")");
}

TarWriter::~TarWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void TarWriter::write(const void* data, size_t size) {
  CM_REQUIRE(file_ != nullptr && std::fwrite(data, 1, size, file_) == size, path_,
             ": write failed (", std::strerror(errno), ")");
}

void TarWriter::add(const std::string& name, const void* data, size_t size) {
  std::string prefix, base = name;
  if (name.size() > 100) {
    const size_t slash = name.rfind('/', 155);
    CM_REQUIRE(
        slash != std::string::npos && name.size() - slash - 1 <= 100 && slash + 1 < name.size(),
        path_, ": member name too long for ustar: ", name);
    prefix = name.substr(0, slash);
    base = name.substr(slash + 1);
  }
  CM_REQUIRE(size < (uint64_t{1} << 33), path_, ": member ", name, " is over 8 GiB");
  uint8_t header[kBlock] = {};
  std::memcpy(header, base.data(), base.size());
  std::snprintf(reinterpret_cast<char*>(header + 100), 8, "%07o", 0644);
  std::snprintf(reinterpret_cast<char*>(header + 108), 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(header + 116), 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(header + 124), 12, "%011llo",
                static_cast<unsigned long long>(size));
  std::snprintf(reinterpret_cast<char*>(header + 136), 12, "%011o", 0);
  header[156] = '0';
  std::memcpy(header + 257, "ustar", 6);
  std::memcpy(header + 263, "00", 2);
  std::memcpy(header + 345, prefix.data(), prefix.size());
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (uint8_t b : header) sum += b;
  std::snprintf(reinterpret_cast<char*>(header + 148), 7, "%06o", sum);
  header[155] = ' ';
  write(header, kBlock);
  write(data, size);
  const uint8_t zeros[kBlock] = {};
  write(zeros,
        static_cast<size_t>(padded(static_cast<int64_t>(size)) - static_cast<int64_t>(size)));
}

void TarWriter::finish() {
  const uint8_t zeros[2 * kBlock] = {};
  write(zeros, sizeof(zeros));
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  CM_REQUIRE(flushed && closed, path_, ": write failed (", std::strerror(errno), ")");
}

}  // namespace clustermim
