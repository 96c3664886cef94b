/*
 * Tar archive reading with libarchive (see archive.h).
 *
 * One streaming pass per call: headers are visited in order, unwanted entries are skipped
 * (libarchive still inflates a .gz stream, but nothing is copied), wanted ones are read whole.
 */
#include "data/archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace clustermim {

namespace {

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_read_free)>;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ArchivePtr open_archive(const std::string& path) {
  ArchivePtr a(archive_read_new(), &archive_read_free);
  CM_CHECK(a != nullptr);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK) {
    fail(path, ": cannot open archive (", archive_error_string(a.get()), ")");
  }
  return a;
}

std::string normalise_entry_path(const char* raw) {
  std::string p = raw ? raw : "";
  while (p.rfind("./", 0) == 0) p.erase(0, 2);
  return p;
}

/// Advances to the next regular-file entry; false at the end of the archive.
bool next_file(archive* a, const std::string& path, std::string& entry_path, int64_t& size) {
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) return false;
    CM_REQUIRE(r == ARCHIVE_OK || r == ARCHIVE_WARN, path, ": corrupt archive (",
               archive_error_string(a), ")");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    entry_path = normalise_entry_path(archive_entry_pathname(entry));
    size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
    return true;
  }
}

std::vector<uint8_t> read_entry_data(archive* a, const std::string& path,
                                     const std::string& entry_path, int64_t size) {
  std::vector<uint8_t> data;
  if (size > 0) data.reserve(static_cast<size_t>(std::min<int64_t>(size, int64_t{1} << 30)));
  uint8_t chunk[1 << 16];
  for (;;) {
    const la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));
    CM_REQUIRE(n >= 0, path, ": cannot read entry ", entry_path, " (", archive_error_string(a),
               ")");
    if (n == 0) return data;
    data.insert(data.end(), chunk, chunk + n);
  }
}

}  // namespace

bool is_archive_path(const std::string& path) {
  return ends_with(path, ".tar") || ends_with(path, ".tar.gz") || ends_with(path, ".tgz");
}

std::string archive_stem(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (const char* ext : {".tar.gz", ".tgz", ".tar"}) {
    if (ends_with(name, ext)) return name.substr(0, name.size() - std::string(ext).size());
  }
  return name;
}

std::string find_archive_entry(const std::string& path,
                               const std::function<bool(const std::string&)>& match) {
  ArchivePtr a = open_archive(path);
  std::string entry_path;
  int64_t size = 0;
  while (next_file(a.get(), path, entry_path, size)) {
    if (match(entry_path)) return entry_path;
  }
  return "";
}

std::vector<ArchiveEntry> read_archive(const std::string& path,
                                       const std::function<bool(const std::string&)>& want) {
  ArchivePtr a = open_archive(path);
  std::vector<ArchiveEntry> entries;
  std::string entry_path;
  int64_t size = 0;
  while (next_file(a.get(), path, entry_path, size)) {
    if (!want(entry_path)) continue;
    entries.push_back({entry_path, read_entry_data(a.get(), path, entry_path, size)});
  }
  return entries;
}

}  // namespace clustermim
