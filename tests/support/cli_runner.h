/*
 * Running the clustermim binary from tests (its path comes from CTest as CLUSTERMIM_BIN), and
 * the MNIST-style IDX fixture the CLI tests train on.
 */
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/fixtures.h"

namespace clustermim {
namespace testing {

struct RunResult {
  int status;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline RunResult run_cli(const TempDir& dir, const std::string& args) {
  const char* bin = std::getenv("CLUSTERMIM_BIN");
  if (bin == nullptr) bin = "./clustermim";
  const std::string cmd = std::string(bin) + " " + args + " --cache-dir none --threads 1 --workers 1 >" +
                          dir.file("stdout") + " 2>" + dir.file("stderr");
  const int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(dir.file("stdout")), slurp(dir.file("stderr"))};
}

inline void write_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  f.write(b, 4);
}

/// Writes an MNIST-style IDX pair: size x size images whose brightness encodes the class (2
/// classes).
inline void write_idx(const std::string& dir, const std::string& prefix, int n, int size = 8) {
  std::ofstream images(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary);
  std::ofstream labels(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary);
  write_be32(images, 0x803);
  write_be32(images, n);
  write_be32(images, size);
  write_be32(images, size);
  write_be32(labels, 0x801);
  write_be32(labels, n);
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    labels.put(char(label));
    for (int p = 0; p < size * size; ++p) images.put(char(label ? 200 + (p * 7 + i) % 40 : 20 + (p * 5 + i) % 30));
  }
}

/// A Fashion-MNIST-like folder `dir`/data holding IDX splits train (`train` images) and t10k
/// (`test` images) of size x size; returns its path.
inline std::string write_idx_dataset(const TempDir& dir, int train, int test, int size = 8) {
  const std::string data = dir.file("data");
  std::filesystem::create_directories(data);
  write_idx(data, "train", train, size);
  write_idx(data, "t10k", test, size);
  return data;
}

}  // namespace testing
}  // namespace clustermim
