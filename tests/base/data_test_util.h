/*
 * Fixture helpers shared by the dataset-reader tests: a fresh temp folder per test, byte files,
 * tar archives written with libarchive, and the message of an expected clustermim::Error.
 * Everything a test reads it writes first; nothing depends on the network or /work/shared.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/file_util.h"

namespace clustermim::test {

/// A new empty folder under ::testing::TempDir(), removed when the test program exits.
inline std::string make_temp_dir() {
  struct Cleanup {
    std::vector<std::string> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
    }
  };
  static Cleanup cleanup;
  std::string pattern = (std::filesystem::path(::testing::TempDir()) / "cm_data_XXXXXX").string();
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  cleanup.dirs.push_back(pattern);
  return pattern;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

/// Every regular file under `root` as (path relative to root, bytes), sorted by path.
inline std::vector<std::pair<std::string, std::vector<uint8_t>>> files_under(
    const std::string& root) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    files.emplace_back(std::filesystem::relative(e.path(), root).string(),
                       read_file_bytes(e.path().string()));
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// Writes the files under `root` into a tar (gzipped when `gzip`), each entry named `prefix` + its
/// relative path.
inline void write_tar(const std::string& path, const std::string& root, const std::string& prefix,
                      bool gzip) {
  archive* a = archive_write_new();
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& [name, bytes] : files_under(root)) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, (prefix + name).c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_write_header(a, entry);
    archive_write_data(a, bytes.data(), bytes.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

/// The message of the clustermim::Error `f` throws; "<no error>" when it returns normally.
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace clustermim::test
