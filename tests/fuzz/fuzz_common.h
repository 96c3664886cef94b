/*
 * Shared pieces of the libFuzzer targets (tests/fuzz/fuzz_*.cpp).
 *
 * A parser may accept an input or reject it with clustermim::Error (one line naming the file).
 * Anything else, another exception type, a crash, a sanitizer report, a hang or an allocation
 * over libFuzzer's -malloc_limit_mb, is a bug that the fuzzer reports. Readers that take a path
 * get the input written to a scratch folder private to the process.
 */
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

/// An invariant of accepted input: aborts (a reported crash) when false, even inside
/// accept_or_reject, which would swallow a CM_CHECK's Error as a rejection.
#define FUZZ_EXPECT(cond)                                                                   \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "FUZZ_EXPECT failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace clustermim::fuzz {

/// Runs `parse`; an Error is an accepted outcome, other exceptions escape and abort the run.
template <typename Fn>
void accept_or_reject(Fn&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

/// A scratch folder for this process (created once, emptied at exit by the OS's /tmp policy).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() /
                              ("clustermim-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

/// Writes `size` bytes to `path` (replacing it), creating its folder.
inline void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace clustermim::fuzz
