/*
 * The one exception type at clustermim's library boundary, and CHECK-style macros.
 *
 * Every failure the user can cause (a bad file, a bad option, a shape that does not fit) throws
 * `clustermim::Error` with a one-line message: what went wrong, where (file name when there is
 * one), and a hint. The CLI prints `error: <message>` and exits non-zero. CM_CHECK adds the
 * source file:line of the check so that internal invariants are easy to trace.
 */
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace clustermim {

/// The only exception type thrown across the library boundary. `what()` is one line.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename T, typename... Rest>
void append_all(std::ostringstream& os, const T& first, const Rest&... rest) {
  os << first;
  append_all(os, rest...);
}
}  // namespace detail

/// Builds a message from streamable parts: `str_cat("file ", path, ": bad magic")`.
template <typename... Parts>
std::string str_cat(const Parts&... parts) {
  std::ostringstream os;
  detail::append_all(os, parts...);
  return os.str();
}

/// Throws Error with a message built from the parts (no source location: for user-facing errors).
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(str_cat(parts...));
}

}  // namespace clustermim

/// User-facing check: throws clustermim::Error(message) when `cond` is false.
#define CM_REQUIRE(cond, ...)                 \
  do {                                        \
    if (!(cond)) ::clustermim::fail(__VA_ARGS__); \
  } while (0)

/// Internal invariant: throws clustermim::Error naming the condition and source file:line.
#define CM_CHECK(cond, ...)                                                              \
  do {                                                                                   \
    if (!(cond))                                                                         \
      ::clustermim::fail("check failed: " #cond " (", __FILE__, ":", __LINE__, ") ", ##__VA_ARGS__); \
  } while (0)
