/*
 * Whole-file reads and atomic writes (see file_util.h).
 */
#include "io/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace clustermim {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  CM_REQUIRE(!fs::is_directory(path, ec), path, ": is a folder, expected a file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  CM_REQUIRE(in.good(), path, ": cannot open (", std::strerror(errno), ")");
  const std::streamoff size = in.tellg();
  CM_REQUIRE(size >= 0, path, ": cannot determine size");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  CM_REQUIRE(in.good() || size == 0, path, ": read error");
  return bytes;
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  fs::create_directories(path, ec);
  CM_REQUIRE(!ec, path, ": cannot create folder (", ec.message(), ")");
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  make_dirs(fs::path(path).parent_path().string());
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CM_REQUIRE(fd >= 0, tmp, ": cannot create (", std::strerror(errno), ")");
  const auto* p = static_cast<const uint8_t*>(data);
  size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(path, ": write failed, previous file kept (", std::strerror(err), ")");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, ": write failed, previous file kept (", std::strerror(err), ")");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename temporary file into place (", std::strerror(err), ")");
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace clustermim
