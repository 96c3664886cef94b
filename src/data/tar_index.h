/*
 * Tar archives at byte level: the members of an uncompressed tar with their data offsets, read
 * from the headers alone, and a writer of plain ustar archives.
 *
 * A streamed dataset reads each sample with one positioned read into its archive, so it needs
 * where each member's data starts, which libarchive does not expose. The format is simple: a
 * member is a 512-byte header (name, octal size, checksum, type) followed by its data padded to
 * 512 bytes. Listing visits the headers only (one 512-byte read each) and never reads member
 * data, except the long names of GNU ('L') and pax ('x') extension headers. The writer makes the
 * archives `clustermim data shard` produces (WebDataset shards), readable by GNU tar, Python's
 * tarfile and libarchive.
 */
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace clustermim {

/// One regular-file member of a tar archive.
struct TarMember {
  std::string name;    ///< path inside the archive, without a leading "./"
  int64_t offset = 0;  ///< first byte of its data in the archive file
  int64_t size = 0;    ///< bytes
};

/// Reads `size` bytes at `offset` into `out`; throws Error when fewer are available.
using ReadAt = std::function<void(int64_t offset, int64_t size, uint8_t* out)>;

/// The regular-file members of an uncompressed tar of `file_size` bytes read through `read`, in
/// archive order. Throws Error("<where>: ...") on a bad checksum, a member running past the end
/// of the file, or a malformed extension header.
std::vector<TarMember> list_tar_members(const ReadAt& read, int64_t file_size,
                                        const std::string& where);

/// list_tar_members over the file at `path`.
std::vector<TarMember> list_tar_file(const std::string& path);

/// Reads `size` bytes at `offset` of the open descriptor `fd` (pread, retried on short reads);
/// throws Error naming `where` when the file ends first or the read fails.
void read_exact_at(int fd, int64_t offset, int64_t size, uint8_t* out, const std::string& where);

/// Writes a ustar archive member by member: header, data, padding; `finish` adds the two zero
/// blocks that end it. Names longer than 100 bytes are split into ustar's prefix and name fields
/// (Error when no '/' allows it).
class TarWriter {
 public:
  /// Creates (truncates) `path`; throws Error naming it when it cannot.
  explicit TarWriter(const std::string& path);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  /// Appends a regular file `name` (mode 0644, mtime 0) holding `size` bytes of `data`.
  void add(const std::string& name, const void* data, size_t size);
  /// Writes the end-of-archive blocks, flushes and closes; throws Error when the disk fails.
  void finish();

 private:
  void write(const void* data, size_t size);

  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace clustermim
