/*
 * The sample-index cache file ("CMSI"): a SampleIndex saved so that reopening a source costs
 * time proportional to the index, not a new walk over the data.
 *
 * Self-describing binary, little-endian: "CMSI", u32 version, u64 FNV-1a checksum of the body,
 * then the body: key, source, split (strings: u64 length + bytes), the files, the classes
 * (u64 count + strings), u64 N, N samples (i32 file, i64 offset, i64 size, i32 label) and N names.
 * A file that fails any check (magic, version, checksum, counts, ranges, another key) is
 * reported and ignored, never trusted; the caller indexes again and overwrites it.
 */
#pragma once

#include <optional>
#include <string>

#include "data/sample_index.h"

namespace clustermim {

/// Bump whenever an indexer's output for the same files changes, so older cache files miss.
constexpr uint32_t kSampleIndexVersion = 1;

/// "<dir>/index-<name>-<split>-<key>.cmsi".
std::string sample_index_cache_path(const std::string& dir, const std::string& name,
                                    const std::string& split, const std::string& key);

/// The index cached at `path`; nullopt when absent, or (with a warning) when the file is corrupt,
/// inconsistent or was written for another key.
std::optional<SampleIndex> load_sample_index(const std::string& path, const std::string& key);

/// Writes `index` to `path` atomically (temp file + rename).
void save_sample_index(const std::string& path, const SampleIndex& index);

}  // namespace clustermim
