/*
 * How the executables are linked: libstdc++ is the first library the dynamic linker searches, so
 * no other library's copy of its functions is used in its place. A PyTorch wheel's libtorch.so
 * exports such copies (std::filesystem among them), and with LibTorch 2.11 the tests crashed in
 * its std::filesystem::remove_all until CMakeLists.txt put libstdc++ first. That needs a compiler
 * whose libstdc++ is a shared library: one that links the static archive (the H200 host's $CXX
 * did) gives no libstdc++ entry at all, and the crash returns.
 */
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "support/cli_runner.h"

namespace clustermim {
namespace {

using testing::slurp;
using testing::TempDir;

/// The first DT_NEEDED entry of an ELF file, as readelf prints it ("" if none).
std::string first_needed(const TempDir& dir, const std::string& elf) {
  const std::string listing = dir.file("dynamic");
  EXPECT_EQ(std::system(("readelf -d " + elf + " > " + listing).c_str()), 0) << elf;
  std::istringstream lines(slurp(listing));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("(NEEDED)") != std::string::npos) return line.substr(line.find('['));
  }
  return "";
}

TEST(Linking, LibstdcxxIsSearchedFirst) {
  if (std::system("readelf --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no readelf";
  TempDir dir;
  const char* bin = std::getenv("CLUSTERMIM_BIN");
  for (const std::string elf : {std::string(bin != nullptr ? bin : "./clustermim"),
                                std::filesystem::read_symlink("/proc/self/exe").string()}) {
    EXPECT_EQ(first_needed(dir, elf).rfind("[libstdc++.so", 0), 0u)
        << elf << ": link with a compiler whose libstdc++ is a shared library"
        << " (`c++ -print-file-name=libstdc++.so` prints a path; scripts/gpu_check.sh picks one)";
  }
}

}  // namespace
}  // namespace clustermim
