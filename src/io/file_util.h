/*
 * Whole-file reads and atomic writes.
 *
 * Nothing clustermim writes is ever half-written: bytes go to a temporary file beside the target,
 * are flushed and fsync'ed, then renamed over it (rename is atomic on POSIX file systems). If the
 * write fails (full disk, killed process), the previous file is still there and the temporary is
 * removed. Errors name the file.
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clustermim {

/// Reads a whole file into memory; throws Error("<path>: <reason>") when it cannot.
std::vector<uint8_t> read_file_bytes(const std::string& path);

/// Writes `size` bytes to `path` atomically (temp file + fsync + rename). Creates parent folders.
void write_file_atomic(const std::string& path, const void* data, size_t size);

/// Convenience overload for text (JSON, reports).
void write_file_atomic(const std::string& path, const std::string& text);

/// Creates a folder and its parents when missing; throws Error naming it on failure.
void make_dirs(const std::string& path);

}  // namespace clustermim
