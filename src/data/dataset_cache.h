/*
 * The decoded-dataset cache: one "CMDS" tensor file per (source, split, image size).
 *
 * Decoding 50k JPEGs takes tens of seconds; reading back the decoded array takes well under one.
 * A cache file holds "images" U8 [N, H, W, C] and "labels" I32 [N] plus meta {name, split,
 * source, classes, skipped, key}. The key fingerprints the source (canonical paths, sizes and
 * mtimes of its files), the split, the image size and kDatasetReaderVersion, and is part of the
 * file name, so a changed source simply misses. A file that fails any check is reported and
 * ignored (the caller decodes again and overwrites it); it is never trusted.
 */
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/fingerprint.h"
#include "data/dataset.h"

namespace clustermim {

/// Bump whenever a reader's output for the same source changes, so older cache files miss.
constexpr int kDatasetReaderVersion = 1;

/// The cache folder for DatasetOptions::cache_dir (see dataset.h); "" when caching is off.
std::string resolve_cache_dir(const std::string& option);

/// "<dir>/<name>-<split>-<image_size|native>-<key>.cmds".
std::string dataset_cache_path(const std::string& dir, const std::string& name,
                               const std::string& split, int image_size, const std::string& key);

/// The cached dataset at `path`; nullopt when absent, or (with a warning) when the file is
/// corrupt, inconsistent or was written for another key.
std::optional<Dataset> load_dataset_cache(const std::string& path, const std::string& key);

/// Writes `dataset` to `path` atomically, tagged with `key`.
void save_dataset_cache(const std::string& path, const Dataset& dataset, const std::string& key);

}  // namespace clustermim
