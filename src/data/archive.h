/*
 * Reading .tar / .tar.gz / .tgz archives into memory with libarchive.
 *
 * Datasets are often shipped as one archive of many small files (50k JPEGs). Unpacking them to
 * disk costs time and space, so readers stream the archive once and keep only the entries they
 * want, in archive order. Entry paths are normalised ("./a/b" -> "a/b"); only regular files are
 * returned. Every error names the archive.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace clustermim {

/// One regular-file entry of an archive, read into memory.
struct ArchiveEntry {
  std::string path;           ///< path inside the archive, without a leading "./"
  std::vector<uint8_t> data;  ///< the entry's bytes
};

/// True when `path` names a tar archive by its extension (.tar, .tar.gz, .tgz).
bool is_archive_path(const std::string& path);

/// `path`'s file name without its archive extension ("/d/cifar10-jpg.tar.gz" -> "cifar10-jpg").
std::string archive_stem(const std::string& path);

/// The path of the first regular-file entry that `match` accepts ("" when none); stops reading
/// there, so probing an archive's layout usually costs a few headers, not a full pass.
std::string find_archive_entry(const std::string& path,
                               const std::function<bool(const std::string&)>& match);

/// Reads the regular-file entries whose path `want` accepts, in archive order; one pass.
std::vector<ArchiveEntry> read_archive(const std::string& path,
                                       const std::function<bool(const std::string&)>& want);

}  // namespace clustermim
